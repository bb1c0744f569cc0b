"""Table 2: Transformer (base), EN-FR: BLEU 38.1."""

from common import wmt14


def get_config():
    return wmt14("base", "fr")
