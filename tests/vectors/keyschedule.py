#!/usr/bin/python3
# Independent model of docs/PROTOCOL.md "Key schedule" (pyca/cryptography),
# used to produce the known-answer vectors in tests/unit/test_kdf.c.
# Inputs: RFC 7748 section 6.1 key pairs, S = 00..1f, J = "job-42".
import hashlib, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

def hkdf_extract(salt, ikm): return hmac.new(salt, ikm, hashlib.sha256).digest()
def hkdf_expand(prk, info, n=32):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]

S = bytes(range(32)); J = b"job-42"
a = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
b = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
A = X25519PrivateKey.from_private_bytes(a).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
B = X25519PrivateKey.from_private_bytes(b).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
party = lambda i, p: bytes([len(i)]) + i + p
pa, pb = party(b"rank0", A), party(b"rank1", B)
lo, hi = sorted([pa, pb])
dh = X25519PrivateKey.from_private_bytes(a).exchange(
    X25519PrivateKey.from_private_bytes(b).public_key())
T = hashlib.sha256(b"encshim v1 transcript" + bytes([len(J)]) + J + lo + hi).digest()
prk = hkdf_extract(S, dh)
r_lh = hkdf_expand(prk, b"encshim v1 L->H" + T)
r_hl = hkdf_expand(prk, b"encshim v1 H->L" + T)
k = lambda r, e: hkdf_expand(r, b"encshim v1 epoch" + e.to_bytes(4, "big"))
chk = hkdf_expand(hkdf_extract(S, b"encshim v1 check"), J)
print("dh    ", dh.hex()); print("T     ", T.hex()); print("R_LH  ", r_lh.hex()); print("R_HL  ", r_hl.hex())
print("K_LH0 ", k(r_lh, 0).hex()); print("K_LH1 ", k(r_lh, 1).hex()); print("check ", chk.hex())
# A frame: L -> H, epoch 0, seq 5, envelope "env", plaintext "hello"
hdr = bytes([1, 1, 0, 0]) + (0).to_bytes(4, "big") + (5).to_bytes(8, "big")
ct = AESGCM(k(r_lh, 0)).encrypt(hdr[4:], b"hello", hdr + b"env")
print("frame ", (hdr + ct).hex())
