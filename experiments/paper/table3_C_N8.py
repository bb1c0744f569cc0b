"""Table 3 (C), N=8: PPL 4.88, BLEU 25.5, 80M."""

from common import table3


def get_config():
    return table3(num_encoder_layers=8, num_decoder_layers=8)
