"""Table 2: Transformer (base), EN-DE: BLEU 27.3."""

from common import wmt14


def get_config():
    return wmt14("base", "de")
