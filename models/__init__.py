"""The shipped models as the package ``rtsep.models`` (pyproject.toml maps this folder onto it; which
ONNX files a wheel carries is listed there). rtsep/model/registry.py finds them with importlib.resources."""
