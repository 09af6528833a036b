"""The tiny default model's tokenizer: BLOOM's pre-tokenizer settings, the
training text (CORPUS), training with tokenizers' BpeTrainer, and the
reference encodings written to tokenizer_cases.json. Used by
make_goldens.py.
"""

import json
import os

from golden_util import log  # first: it sets the environment defaults


# ---------------------------------------------------------------------------
# Tokenizer of the tiny default model

BLOOM_SPLIT_PATTERN = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]

CORPUS = r"""
The tiny model in this folder exists so that the runtime can be tried without downloading anything.
It knows nothing: its weights are random numbers, and the text it writes is noise.
Still, every part of the pipeline runs: the tokenizer splits words, the embedding looks them up,
the attention layers mix positions with linear biases, and the sampler picks the next token.
A language model reads a sequence of tokens and predicts, for every position, the next one.
BLOOM is a decoder-only transformer trained on forty-six natural languages and thirteen programming languages.
Its positions are not learned: each head adds a penalty that grows linearly with the distance between query and key.
Heads with a steep slope look at nearby words; heads with a gentle slope see the whole context.
Good morning! How are you today? I'm fine, thanks... and you?
Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 3.14159 2.71828 -17 +5 1e-5 0x1F 2024-05-17 12:30:45.
Punctuation, quotes "like this", 'single ones', (parentheses), [brackets], {braces}; colons: semicolons; dashes - and underscores_here.
Email someone@example.com or visit https://example.org/path?query=value&other=1#anchor for more.
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.
She sells sea shells by the sea shore, and the shells she sells are surely sea shells.
When the weather is cold, people stay inside, drink tea, read books, and talk about the spring.
Once upon a time, in a small village near the mountains, there lived an old baker who woke before dawn.
He kneaded the dough, lit the oven, and waited while the bread rose slowly in the warm kitchen.
The children of the village came every morning to smell the fresh loaves and to beg for a piece of crust.

Le petit modèle de ce dossier ne sait rien : ses poids sont aléatoires.
Bonjour à tous ! Comment allez-vous aujourd'hui ? Il fait beau, le soleil brille et les oiseaux chantent.
La tokenisation découpe le texte en morceaux ; chaque morceau reçoit un identifiant numérique.
Nous avons mangé une crêpe au chocolat, puis nous sommes allés au marché acheter des légumes et du fromage.
L'été dernier, j'ai voyagé en Bretagne, où la mer est froide mais les plages sont magnifiques.
Où est la gare ? Elle est à côté de l'hôtel de ville, après le pont, à gauche.
Hola, ¿cómo estás? Muy bien, gracias. El niño comió una manzana y bebió agua fría.
Guten Tag! Wie geht es Ihnen? Die Straße ist lang, und der Bäcker öffnet um sieben Uhr.

def greedy_decode(model, tokens, max_new_tokens):
    for _ in range(max_new_tokens):
        logits = model(tokens)
        next_token = int(logits[-1].argmax())
        tokens.append(next_token)
        if next_token == EOS_TOKEN_ID:
            break
    return tokens

class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = dict(vocab)
        self.merges = {pair: rank for rank, pair in enumerate(merges)}

    def encode(self, text: str) -> list[int]:
        return [self.vocab[piece] for piece in self.split(text)]

#include <cstdint>
#include <vector>

// Adds the ALiBi bias to one row of attention scores.
void AddAlibi(float* scores, int64_t length, float slope) {
  for (int64_t j = 0; j < length; ++j) {
    scores[j] += slope * static_cast<float>(j);
  }
}

int main(int argc, char** argv) {
  std::vector<float> row(16, 0.0f);
  AddAlibi(row.data(), static_cast<int64_t>(row.size()), 0.5f);
  return row[3] == 1.5f ? 0 : 1;
}

for (let i = 0; i < items.length; i++) { console.log(`item ${i}: ${items[i].name}`); }
SELECT name, count(*) FROM users WHERE age > 21 GROUP BY name ORDER BY count(*) DESC;
    indented line with four spaces
		two tabs before this line
multiple   spaces   between   words

小模型什么都不知道，它的权重是随机的。
今天天气很好，我们去公园散步吧。
语言模型根据前面的词预测下一个词。北京是中国的首都，上海是最大的城市。
日本語の文章も少し入れておきます。東京は日本の首都です。こんにちは、元気ですか。
ひらがなとカタカナ、そして漢字を使います。
한국어 문장도 조금 있습니다. 안녕하세요, 만나서 반갑습니다.

مرحبا بكم في هذا المثال الصغير، النموذج لا يعرف شيئا.
اللغة العربية تكتب من اليمين إلى اليسار، والكلمات تتصل حروفها ببعضها.
كيف حالك اليوم؟ أنا بخير، شكرا لك.

नमस्ते! यह एक छोटा सा उदाहरण है।
भाषा मॉडल अगले शब्द का अनुमान लगाता है। भारत एक विशाल देश है।
मुझे चाय पीना पसंद है, और मेरी बहन को कॉफ़ी।

Emoji too: 😀 😂 🎉 👍 🚀 ❤️ 🌍 🐍 🍕 — they are several bytes each in UTF-8.
Symbols: € £ ¥ © ® ™ ° ± × ÷ → ← ↑ ↓ ∞ ≈ ≠ ≤ ≥ √ ∑ π µ … « » “ ” ‘ ’
Mixed: The café in Paris serves crème brûlée; 東京 has ramen; मुंबई has chai; القاهرة has coffee 🙂.
""".strip("\n")


def tokenizer_corpus():
    lines = CORPUS.split("\n")
    # Repeat the text a few times so frequent pairs separate from rare ones.
    return lines * 3


def train_tokenizer(vocab_size):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    try:
        tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False,
                                                  use_regex=False)
    except TypeError:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    for i, s in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


TOKENIZER_SAMPLES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and trailing  ",
    "multiple   spaces\tand\ttabs\nand\n\nnewlines",
    "Bonjour à tous ! Où est la gare ?",
    "def f(x):\n    return x * 2  # comment",
    "小模型什么都不知道，它的权重是随机的。",
    "مرحبا بكم، كيف حالك؟",
    "नमस्ते! भारत एक विशाल देश है।",
    "Emoji 😀🚀 and symbols €→∞…",
    "unseenwordsXYZ qwertyuiop zzzzzz",
    "a.b,c!d?e…f",
    "",
    "<s> is not special inside plain text </s>",
]


def write_tokenizer_cases(tok, out_root):
    cases = []
    for text in TOKENIZER_SAMPLES:
        enc = tok.encode(text)
        decoded = tok.decode(enc.ids, skip_special_tokens=False)
        assert decoded == text, (text, decoded)
        cases.append({"text": text, "ids": list(enc.ids), "tokens": list(enc.tokens)})
    path = os.path.join(out_root, "test", "golden", "tokenizer_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "models/bloom/tiny-random/tokenizer.json",
                   "note": "ids from tokenizers' Tokenizer.encode (no template adds "
                           "special tokens); decode(ids) == text for every case",
                   "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(f"  tokenizer cases: {[(c['text'][:20], len(c['ids'])) for c in cases]}")
