"""The Hearth client SDK: keys, rooms, sync and offline use for front ends."""

__all__: list[str] = []
