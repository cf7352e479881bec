"""LC1 electronic-licence presentation tokens, self-contained for offline verifiers.

Boundary: this package imports only the standard library, cbor2, base45, numpy and cryptography,
and nothing else from `app`, so an inspector app can ship it as it is. It knows the token format
(`LC1:` + base45(zlib?(COSE_Sign1(CWT)))), the GB/T 36904 licence identifier, the signed trust
list, and the offline verifier; `worker.py` runs that same verifier in a helper process for the
service. The codec layers also read EU DCC `HC1:` codes, which is how the DCC conformance vectors
exercise them.
"""
