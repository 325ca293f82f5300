"""Hand-written runtime: what cannot be derived from the specs.

Nothing in this package imports generated code or the facade.
"""
