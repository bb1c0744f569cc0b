"""Table 3 (C), d_ff=4096: PPL 4.75, BLEU 26.2, 90M."""

from common import table3


def get_config():
    return table3(d_ff=4096)
