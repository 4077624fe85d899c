"""The Hearth relay: stores ciphertext and signed room logs, forwards them live."""

__all__: list[str] = []
