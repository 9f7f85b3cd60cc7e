"""Build a tiny, randomly initialised Glm4vForConditionalGeneration model folder, locally and without download.

The transformer layers and the vision tower keep their seeded random weights. Only the token embeddings and
the LM-head rows of a few chosen tokens are set by hand, so that greedy decoding walks a fixed chain of tokens
whatever the prompt: ``<think>`` -> REASONING -> ``</think>`` -> ANSWER -> ``<|endoftext|>``, and the ``\\n``
that ends a thinking-off prompt (``<think></think>\\n``) also leads into ANSWER. Each such token gets an
embedding of norm CHAIN_NORM along its own basis direction, which outweighs everything the random layers add
(their sublayer outputs are RMS-normalised, about norm 8 each), and its successor's LM-head row points along
that direction. ``transformers serve`` raises any ``max_new_tokens`` below 1024 to 1024, so the model itself
has to end its reply, and a random model never reliably writes ``</think>``: hence the chain.
"""

import functools
import hashlib
import json
import random
import shutil
from pathlib import Path

import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    Glm4vConfig,
    Glm4vForConditionalGeneration,
    Glm4vImageProcessorPil,
    PreTrainedTokenizerFast,
)

from .processing_tiny_glmv import TinyGlmvProcessor

RECIPE_VERSION = 1
STAMP_NAME = "tiny_glmv_recipe.txt"
PROCESSOR_MODULE = Path(__file__).with_name("processing_tiny_glmv.py")

EOS = "<|endoftext|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPECIAL_TOKENS = [
    EOS,
    "[gMASK]",
    "<sop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|video|>",
    THINK_OPEN,
    THINK_CLOSE,
    "<|begin_of_box|>",
    "<|end_of_box|>",
]
REASONING = "The user shared an image, so I will describe it"
ANSWER = "It shows two colored regions: red and blue."
CHAIN_NORM = 100.0
CHAIN_LOGIT = 10.0
SEED = 1234
HIDDEN_SIZE = 64
VOCAB_SIZE = 1200
IMAGE_MIN_PIXELS = 28 * 28 * 4
IMAGE_MAX_PIXELS = 28 * 28 * 16

CHAT_TEMPLATE = r"""
{%- macro render(content) -%}
    {%- if content is string -%}
        {{ content }}
    {%- else -%}
        {%- for part in content -%}
            {%- if part.type == 'text' -%}
                {{ part.text }}
            {%- elif part.type in ('image', 'image_url') -%}
                {{ '<|begin_of_image|><|image|><|end_of_image|>' }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{{ '[gMASK]<sop>' }}
{%- for message in messages -%}
    {%- if message.role in ('system', 'user', 'assistant') -%}
        {{ '<|' + message.role + '|>\n' }}{{ render(message.content) }}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {%- if enable_thinking is defined and not enable_thinking -%}
        {{ '<|assistant|>\n<think></think>\n' }}
    {%- else -%}
        {{ '<|assistant|>\n<think>' }}
    {%- endif -%}
{%- endif -%}
"""

RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>\n",
    "fields": {
        "reasoning_content": {"open": THINK_OPEN, "close_pattern": r"</think>\s*", "content": "text"},
        "content": {"close_pattern": r"\s*(?:<\|endoftext\|>|<\|user\|>)", "content": "text"},
    },
}

_WORDS = """
the a an of to and in is it that for on with as this be at by from or are was were has have had not but
all any can will would should could may might must one two three four five six seven eight nine ten
picture image photo drawing screen window button menu text title label line lines box boxes corner edge
red blue green yellow orange purple black white gray grey dark light bright pale color colors colored
left right top bottom middle center side sides above below near far inside outside between around
small large big tiny wide narrow tall short round square circle shape shapes region regions area areas
user assistant question answer reply think thinking reason reasoning step steps first second next last
look looks see sees show shows describe describes explain explains read reads write writes count counts
shared sent made found said asked told gave took used called named seems appears contains includes
I you he she we they me him her us them my your his our their its so then now here there where when
what which who why how yes no maybe about into over under again also only just very more most less each
code file data table list item items value values number numbers word words letter letters page pages
hello world thanks please sure okay well good bad new old same other different simple clear plain
"""


def _corpus() -> list[str]:
    """Return a deterministic training corpus of English words, punctuation, digits and markdown."""
    rng = random.Random(SEED)
    vocabulary = _WORDS.split()
    lines = [REASONING, ANSWER] * 20
    for index in range(600):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 14))]
        sentence = " ".join(words).capitalize() + rng.choice([".", "!", "?", ",", ":", ";", "..."])
        decoration = index % 8
        if decoration == 0:
            sentence = f"{'#' * rng.randint(1, 3)} {sentence}"
        elif decoration == 1:
            sentence = f"- {sentence} ({rng.randint(0, 9999)})"
        elif decoration == 2:
            sentence = f"{rng.randint(1, 20)}. **{words[0]}** `{words[-1]}` {rng.random():.3f}"
        elif decoration == 3:
            sentence = f"> {sentence} [{words[0]}](https://example.com/{words[-1]}) {rng.randint(0, 100)}%"
        lines.append(sentence)
    return lines


def _build_tokenizer() -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer with the GLM special tokens, chat and response templates."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS,
        pad_token=EOS,
        chat_template=CHAT_TEMPLATE,
        response_template=RESPONSE_TEMPLATE,
        model_max_length=4096,
    )


def _token_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    """Return the id of one token of the vocabulary."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        raise KeyError(token)
    return token_id


def _config(tokenizer: PreTrainedTokenizerFast) -> Glm4vConfig:
    """Return the tiny GLM-4.1V configuration, with the tokenizer's image and video token ids."""
    ids = functools.partial(_token_id, tokenizer)
    return Glm4vConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": HIDDEN_SIZE,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5,
                "mrope_section": [2, 1, 1],
            },
            "pad_token_id": ids(EOS),
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 128,
            "num_heads": 2,
            "image_size": 112,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": HIDDEN_SIZE,
        },
        image_token_id=ids("<|image|>"),
        video_token_id=ids("<|video|>"),
        image_start_token_id=ids("<|begin_of_image|>"),
        image_end_token_id=ids("<|end_of_image|>"),
        video_start_token_id=ids("<|begin_of_video|>"),
        video_end_token_id=ids("<|end_of_video|>"),
    )


def _successors(tokenizer: PreTrainedTokenizerFast) -> dict[int, int]:
    """Map each chain token id to the id greedy decoding must pick after it."""
    ids = functools.partial(_token_id, tokenizer)
    reasoning = tokenizer.encode(REASONING, add_special_tokens=False)
    answer = tokenizer.encode(ANSWER, add_special_tokens=False)
    (newline,) = tokenizer.encode("\n", add_special_tokens=False)
    chain = [ids(THINK_OPEN), *reasoning, ids(THINK_CLOSE), *answer, ids(EOS)]
    if len(set(chain)) != len(chain) or newline in chain:
        raise RuntimeError(f"tiny GLM-V chain tokens must be distinct: {chain}")
    successors = dict(zip(chain, chain[1:], strict=False))
    successors[newline] = answer[0]
    return successors


def _set_chain_weights(model: Glm4vForConditionalGeneration, successors: dict[int, int]) -> None:
    """Give each chain token its own embedding direction and point its successor's LM-head row along it."""
    if len(successors) > HIDDEN_SIZE:
        raise RuntimeError(f"{len(successors)} chain tokens do not fit in {HIDDEN_SIZE} hidden dimensions")
    embeddings = model.model.language_model.embed_tokens.weight
    lm_head = model.lm_head.weight
    with torch.no_grad():
        for axis, (token, successor) in enumerate(successors.items()):
            embeddings[token].zero_()
            embeddings[token, axis] = CHAIN_NORM
            lm_head[successor, axis] = CHAIN_LOGIT


def _suppressed_tokens(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """List the ids that decode to special or non-printable text, except ``</think>`` and the eos."""
    allowed = {_token_id(tokenizer, THINK_CLOSE), _token_id(tokenizer, EOS)}
    special = {_token_id(tokenizer, token) for token in SPECIAL_TOKENS}
    suppressed = []
    for token in range(len(tokenizer)):
        text = tokenizer.decode([token])
        printable = text != "" and "\ufffd" not in text and all(c.isprintable() or c in " \n" for c in text)
        if token not in allowed and (token in special or not printable):
            suppressed.append(token)
    return suppressed


def _generation_config(tokenizer: PreTrainedTokenizerFast) -> GenerationConfig:
    """Return a greedy generation config stopping at ``<|endoftext|>`` or ``<|user|>``."""
    eos = [_token_id(tokenizer, EOS), _token_id(tokenizer, "<|user|>")]
    return GenerationConfig(
        do_sample=False,
        max_new_tokens=40,
        eos_token_id=eos,
        pad_token_id=eos[0],
        suppress_tokens=_suppressed_tokens(tokenizer),
    )


def _recipe_hash() -> str:
    """Hash this builder, the processor module and the library versions into a build stamp."""
    digest = hashlib.sha256()
    for part in (
        str(RECIPE_VERSION),
        transformers.__version__,
        tokenizers.__version__,
        torch.__version__,
        Path(__file__).read_text(),
        PROCESSOR_MODULE.read_text(),
    ):
        digest.update(part.encode())
    return digest.hexdigest()


def _write_model(folder: Path) -> None:
    """Write the tokenizer, processor, config, weights and generation config into ``folder``."""
    tokenizer = _build_tokenizer()
    image_processor = Glm4vImageProcessorPil(size={"shortest_edge": IMAGE_MIN_PIXELS, "longest_edge": IMAGE_MAX_PIXELS})
    processor = TinyGlmvProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(folder)
    shutil.copy(PROCESSOR_MODULE, folder / PROCESSOR_MODULE.name)
    processor_config = folder / "processor_config.json"
    data = json.loads(processor_config.read_text())
    data["auto_map"] = {"AutoProcessor": f"{PROCESSOR_MODULE.stem}.{TinyGlmvProcessor.__name__}"}
    processor_config.write_text(json.dumps(data, indent=2) + "\n")

    torch.manual_seed(SEED)
    model = Glm4vForConditionalGeneration(_config(tokenizer))
    _set_chain_weights(model, _successors(tokenizer))
    model.generation_config = _generation_config(tokenizer)
    model.save_pretrained(folder)


def build_tiny_glmv(dest: Path) -> Path:
    """Build the tiny GLM-V model folder at ``dest`` unless a build of this recipe is already there."""
    recipe = _recipe_hash()
    stamp = dest / STAMP_NAME
    if stamp.is_file() and stamp.read_text() == recipe:
        return dest
    if dest.exists() and any(dest.iterdir()) and not stamp.is_file():
        raise FileExistsError(f"{dest} is neither empty nor a tiny GLM-V build")
    staging = dest.with_name(f".{dest.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_model(staging)
    (staging / STAMP_NAME).write_text(recipe)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest
