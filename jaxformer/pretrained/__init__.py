"""Pretrained checkpoints from other frameworks, converted into jaxformer's config, parameters and tokenizer."""

from jaxformer.pretrained.marian import from_marian, read_marian

__all__ = ["from_marian", "read_marian"]
