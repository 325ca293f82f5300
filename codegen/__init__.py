"""The generator: specs/ in, generated/ out. Run it as ``python -m codegen``."""
