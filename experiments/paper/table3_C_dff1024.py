"""Table 3 (C), d_ff=1024: PPL 5.12, BLEU 25.4, 53M."""

from common import table3


def get_config():
    return table3(d_ff=1024)
