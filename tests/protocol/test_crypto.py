"""The primitives: domain separation, tamper detection, errors of our own."""

from __future__ import annotations

import nacl.pwhash
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import CryptoError, crypto
from tests.protocol.builders import FAST, flip_bit

SEED = bytes(range(32))
KEY = bytes(range(100, 132))
NONCE = bytes(24)


def _persons() -> list[bytes]:
    return [getattr(crypto, n) for n in crypto.__all__ if n.startswith("PERSON_")]


def _contexts() -> list[bytes]:
    return [getattr(crypto, n) for n in crypto.__all__ if n.startswith("CTX_")]


def test_personalisations_are_distinct_and_fit_blake2b() -> None:
    persons = _persons()
    assert len(set(persons)) == len(persons)
    assert all(0 < len(p) <= 16 for p in persons)
    digests = {crypto.blake2b(b"x", person=p) for p in persons}
    assert len(digests) == len(persons)


def test_no_context_is_a_prefix_of_another() -> None:
    contexts = _contexts()
    assert len(set(contexts)) == len(contexts)
    for a in contexts:
        assert a.endswith(b"\x00")
        assert a.count(b"\x00") == 1
        for b in contexts:
            assert a == b or not b.startswith(a)


def test_blake2b_and_kdf_sizes_and_keys() -> None:
    assert len(crypto.blake2b(b"", person=b"p")) == crypto.HASH_BYTES
    assert len(crypto.blake2b(b"", person=b"p", size=60)) == 60
    assert crypto.kdf(KEY, b"d", person=b"p") != crypto.kdf(SEED, b"d", person=b"p")
    assert crypto.kdf(KEY, b"d", person=b"p") != crypto.kdf(KEY, b"e", person=b"p")
    assert crypto.kdf(KEY, b"d", person=b"p") != crypto.blake2b(b"d", person=b"p")


@FAST
@given(payload=st.binary(max_size=200), bit=st.integers(0, 2**16))
def test_signatures_verify_and_any_flip_fails(payload: bytes, bit: int) -> None:
    key = crypto.signing_key_from_seed(SEED)
    public = bytes(key.verify_key)
    sig = crypto.sign(key, crypto.CTX_OP, payload)
    crypto.verify(public, crypto.CTX_OP, payload, sig)
    with pytest.raises(CryptoError) as info:
        crypto.verify(public, crypto.CTX_OP, payload, flip_bit(sig, bit))
    assert info.value.code == "crypto.bad_signature"
    if payload:
        with pytest.raises(CryptoError):
            crypto.verify(public, crypto.CTX_OP, flip_bit(payload, bit), sig)
    with pytest.raises(CryptoError):
        crypto.verify(flip_bit(public, bit), crypto.CTX_OP, payload, sig)


def test_a_signature_is_bound_to_its_context() -> None:
    key = crypto.signing_key_from_seed(SEED)
    public = bytes(key.verify_key)
    sig = crypto.sign(key, crypto.CTX_DELETE, b"payload")
    for context in _contexts():
        if context != crypto.CTX_DELETE:
            with pytest.raises(CryptoError):
                crypto.verify(public, context, b"payload", sig)
    crypto.verify(public, crypto.CTX_DELETE, b"payload", sig)


@pytest.mark.parametrize(("key_len", "sig_len"), [(31, 64), (33, 64), (32, 63), (32, 65)])
def test_malformed_key_or_signature(key_len: int, sig_len: int) -> None:
    with pytest.raises(CryptoError) as info:
        crypto.verify(bytes(key_len), crypto.CTX_OP, b"", bytes(sig_len))
    assert info.value.code == "crypto.bad_signature"


@FAST
@given(plaintext=st.binary(max_size=64), bit=st.integers(0, 2**16))
def test_seal_round_trip_and_tamper(plaintext: bytes, bit: int) -> None:
    key = crypto.box_keypair_from_seed(SEED)
    sealed = crypto.seal(crypto.box_public(key), plaintext)
    assert len(sealed) == len(plaintext) + 48
    assert crypto.unseal(key, sealed) == plaintext
    with pytest.raises(CryptoError) as info:
        crypto.unseal(key, flip_bit(sealed, bit))
    assert info.value.code == "crypto.unseal_failed"
    other = crypto.box_keypair_from_seed(KEY)
    with pytest.raises(CryptoError):
        crypto.unseal(other, sealed)


def test_sealing_is_randomised_and_checks_the_key() -> None:
    public = crypto.box_public(crypto.box_keypair_from_seed(SEED))
    assert crypto.seal(public, b"x") != crypto.seal(public, b"x")
    with pytest.raises(CryptoError) as info:
        crypto.seal(public[:31], b"x")
    assert info.value.code == "crypto.bad_key"


@FAST
@given(
    plaintext=st.binary(max_size=300),
    associated=st.binary(max_size=40),
    bit=st.integers(0, 2**16),
)
def test_aead_round_trip_and_tamper(plaintext: bytes, associated: bytes, bit: int) -> None:
    ct = crypto.aead_encrypt(KEY, NONCE, plaintext, associated)
    assert len(ct) == len(plaintext) + crypto.AEAD_TAG_BYTES
    assert crypto.aead_decrypt(KEY, NONCE, ct, associated) == plaintext
    for args in [
        (flip_bit(KEY, bit), NONCE, ct, associated),
        (KEY, flip_bit(NONCE, bit), ct, associated),
        (KEY, NONCE, flip_bit(ct, bit), associated),
        (KEY, NONCE, ct, associated + b"\x00"),
    ]:
        with pytest.raises(CryptoError) as info:
            crypto.aead_decrypt(*args)
        assert info.value.code == "crypto.decrypt_failed"


@pytest.mark.parametrize("nonce_len", [0, 12, 23, 25])
def test_aead_refuses_a_short_nonce(nonce_len: int) -> None:
    ct = crypto.aead_encrypt(KEY, NONCE, b"x", b"")
    with pytest.raises(CryptoError) as info:
        crypto.aead_decrypt(KEY, bytes(nonce_len), ct, b"")
    assert info.value.code == "crypto.decrypt_failed"


@pytest.mark.parametrize("length", [0, 1, 15])
def test_aead_refuses_a_ciphertext_shorter_than_its_tag(length: int) -> None:
    with pytest.raises(CryptoError) as info:
        crypto.aead_decrypt(KEY, NONCE, bytes(length), b"")
    assert info.value.code == "crypto.decrypt_failed"


def test_aead_refuses_a_wrong_size_key() -> None:
    ct = crypto.aead_encrypt(KEY, NONCE, b"x", b"")
    with pytest.raises(CryptoError):
        crypto.aead_decrypt(KEY[:31], NONCE, ct, b"")


def test_secretbox_round_trip_uses_rng_and_detects_tamper() -> None:
    box = crypto.secretbox_encrypt(KEY, b"epoch secrets", rng=bytes)
    assert box[:24] == bytes(24)
    assert crypto.secretbox_decrypt(KEY, box) == b"epoch secrets"
    assert crypto.secretbox_encrypt(KEY, b"x") != crypto.secretbox_encrypt(KEY, b"x")
    for bad_key, bad_box in [(KEY, flip_bit(box, 200)), (SEED, box), (KEY, box[:10])]:
        with pytest.raises(CryptoError) as info:
            crypto.secretbox_decrypt(bad_key, bad_box)
        assert info.value.code == "crypto.decrypt_failed"


def test_passphrase_key_depends_on_passphrase_and_salt() -> None:
    cheap = {
        "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
    }
    salt = bytes(16)
    key = crypto.passphrase_key("correct horse", salt, **cheap)
    assert len(key) == 32
    assert key == crypto.passphrase_key("correct horse", salt, **cheap)
    assert key != crypto.passphrase_key("correct horsf", salt, **cheap)
    assert key != crypto.passphrase_key("correct horse", b"\x01" * 16, **cheap)


@pytest.mark.parametrize("difficulty", [0, 1, 4, 9])
def test_proof_of_work(difficulty: int) -> None:
    challenge, key = b"c" * 32, b"k" * 32
    nonce = crypto.pow_solve(challenge, key, difficulty)
    assert crypto.pow_check(challenge, key, nonce, difficulty)
    # pow_solve returns the smallest solution, so every smaller nonce fails.
    assert not any(crypto.pow_check(challenge, key, n, difficulty) for n in range(nonce))
    if difficulty:
        digest = crypto.blake2b(
            challenge + key + nonce.to_bytes(8, "big"), person=crypto.PERSON_POW
        )
        assert int.from_bytes(digest, "big") >> (256 - difficulty) == 0


@pytest.mark.parametrize("nonce", [-1, 2**64])
def test_proof_of_work_refuses_out_of_range_nonces(nonce: int) -> None:
    assert not crypto.pow_check(b"c", b"k", nonce, 0)


def test_random_bytes() -> None:
    assert len(crypto.random_bytes(24)) == 24
    assert crypto.random_bytes(32) != crypto.random_bytes(32)
