"""debian-small's tokenizer: a byte-level BPE trained with the tokenizers
library under BLOOM's exact settings, checked against the settings of
models/bloom/tiny-random/tokenizer.json (which mirrors bigscience/bloom's).

No normalizer; pre-tokenizer Sequence[Split(BLOOM's regex, isolated),
ByteLevel(add_prefix_space=false, use_regex=false)]; ByteLevel
post-processor and decoder; <unk>=0, <s>=1, </s>=2, <pad>=3.
"""

import json

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

BLOOM_SPLIT_PATTERN = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
EOS_ID = 2
PAD_ID = 3

# The parts of tokenizer.json that must equal BLOOM's.
SETTINGS = ("normalizer", "pre_tokenizer", "post_processor", "decoder")


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False,
                                              use_regex=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def check_tokenizer(tok, reference_path, vocab_size):
    """Raises ValueError naming the first way `tok` differs from BLOOM's
    settings (read from `reference_path`) or from the wanted vocabulary."""
    ours = json.loads(tok.to_str())
    with open(reference_path, encoding="utf-8") as f:
        reference = json.load(f)
    for key in SETTINGS:
        if ours.get(key) != reference.get(key):
            raise ValueError(f"tokenizer {key} {json.dumps(ours.get(key))} differs from "
                             f"{reference_path}'s {json.dumps(reference.get(key))}")
    model_options = {k: v for k, v in ours["model"].items() if k not in ("vocab", "merges")}
    reference_options = {k: v for k, v in reference["model"].items()
                         if k not in ("vocab", "merges")}
    if model_options != reference_options:
        raise ValueError(f"tokenizer model options {model_options} differ from "
                         f"{reference_path}'s {reference_options}")
    for i, token in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(token) != i:
            raise ValueError(f"special token {token} has id {tok.token_to_id(token)}, not {i}")
    if tok.get_vocab_size() != vocab_size:
        raise ValueError(f"the corpus gave a vocabulary of {tok.get_vocab_size()}, "
                         f"not {vocab_size}")


def encode_documents(tok, texts):
    """Token ids of each text, without special tokens."""
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    return [e.ids for e in encode(texts, add_special_tokens=False)]
