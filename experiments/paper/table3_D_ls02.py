"""Table 3 (D), epsilon_ls=0.2: PPL 5.47, BLEU 25.7."""

from common import table3


def get_config():
    return table3(train_label_smoothing=0.2)
