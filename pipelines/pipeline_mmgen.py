"""MMGenPipeline: melody-guided music generation with a latent diffusion model (paper 4.2).

```
prompt ──► aligner.embed_text ──┐ q
audio  ──► aligner.embed_audio ─┤──► retriever.search(q) ──► r (+ the melody's id, caption, notes)
melody ──► aligner.embed_melody ───────────────────────────► r (no retrieval)
c = condition_projector([q, r]);  noise ──► UNet(x, t, c) with CFG ──► VAE decoder ──► log-mel ──► vocoder ──► audio
```
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput, logging, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor
from transformers import PreTrainedModel, PreTrainedTokenizer, SpeechT5HifiGan

from mmgen.audio import (
    HOP_LENGTH,
    N_MELS,
    SAMPLE_RATE,
    AudioError,
    load_audio,
    log_mel_spectrogram,
    to_mono,
    validate_waveform,
)
from mmgen.limits import (
    DEFAULT_WINDOW_S,
    MAX_AUDIO_LENGTH_S,
    MAX_CHAINED_MELODIES,
    MAX_GENERATIONS_PER_CALL,
    MAX_INFERENCE_STEPS,
    MAX_INPUT_CHANNELS,
    MAX_INPUT_PEAK,
    MAX_INPUT_SECONDS,
    MAX_NUM_CANDIDATES,
    MAX_PROMPT_SECONDS,
    MAX_WAVEFORMS_PER_PROMPT,
    MAX_WINDOW_S,
    MELODY_EXTENSIONS,
    MIN_AUDIO_LENGTH_S,
    MIN_INPUT_SECONDS,
    MIN_PROMPT_SECONDS,
    MIN_WINDOW_OVERLAP_S,
    MIN_WINDOW_S,
    check_number,
)
from mmgen.long_form import crossfade_into, plan_windows, scale_window, split_held
from mmgen.melody.chain import chain_melodies
from mmgen.melody.load import LoadedMelody, load_melody
from mmgen.melody.notes import MelodyError, Note
from mmgen.melody.sketch import check_sketch_pitches, fit_to_length, notes_in_span, piano_roll, sketch_log_mel
from mmgen.melody.tokenizer import MelodyTokenizer, notes_to_string, string_to_notes
from mmgen.models.aligner import TriModalAligner
from mmgen.models.condition import ConditionProjector, classifier_free_guidance
from mmgen.models.loading import check_complete_weights, check_config_files, diagnose_config_types
from mmgen.models.melody_encoder import PianoRollEncoder
from mmgen.models.unet import unet_downsample_factor, unet_sketch_channels
from mmgen.models.vae import decode_latents, encode_mels
from mmgen.models.vocoder import VocoderError, default_method, mel_to_audio
from mmgen.models.vocos import VocosVocoder
from mmgen.retrieval import MelodyRetriever

# diffusers only loads components whose module has been imported (pipeline_loading_utils): importing the
# component classes here makes `MMGenPipeline.from_pretrained(path)` work in a fresh process.
_COMPONENT_CLASSES = (
    TriModalAligner, MelodyRetriever, MelodyTokenizer, ConditionProjector, PianoRollEncoder, VocosVocoder
)  # fmt: skip

logger = logging.get_logger(__name__)

OUTPUT_TYPES = ("np", "pt", "latent", "mel")
# Output waveforms are peak-limited to this (-0.9 dBFS) when they exceed it: a whole-clip gain, never clipping.
OUTPUT_PEAK = 0.9

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import soundfile as sf
        >>> import torch
        >>> from mmgen import MMGenPipeline

        >>> pipe = MMGenPipeline.from_pretrained("checkpoints/mmgen-default")
        >>> generator = torch.Generator().manual_seed(0)
        >>> out = pipe("a calm folk melody on solo flute", audio_length_in_s=10.0, num_inference_steps=12,
        ...            generator=generator)
        >>> sf.write("flute.wav", out.audios[0], pipe.sampling_rate)
        >>> out.melodies[0]["id"], out.melodies[0]["caption"]  # the retrieved melody that guided it

        >>> # your own melody (MIDI path, list of Notes, token string or an audio file to transcribe)
        >>> out = pipe("a jazz piano trio", melody="tune.mid", generator=generator)
        >>> # music-to-music: the reference audio's embedding is the query
        >>> out = pipe(audio="reference.wav", num_candidates=3, generator=generator)

        >>> # precomputed queries, and a callback that raises the guidance (the paper's w) after step 10
        >>> q, neg = pipe.aligner.embed_text(["a calm folk melody"]), pipe.aligner.embed_text(["noise"])
        >>> def stronger(pipe, i, t, callback_kwargs):
        ...     if i == 10:
        ...         pipe._guidance_scale = 5.0
        ...     return callback_kwargs
        >>> out = pipe(prompt_embeds=q, negative_prompt_embeds=neg, callback_on_step_end=stronger)
        ```
"""


@dataclass
class MMGenPipelineOutput(BaseOutput):
    r"""
    Output of [`MMGenPipeline`].

    Args:
        audios (`np.ndarray` or `torch.Tensor`):
            `output_type="np"`/`"pt"`: waveforms of shape `(batch_size * num_waveforms_per_prompt, samples)` at
            22,050 Hz, in [-0.9, 0.9] (a clip whose peak exceeds 0.9 is scaled down as a whole: `limit_peak`);
            `"mel"`: log-mels `(batch, 80, frames)`; `"latent"`: latents `(batch, C, frames / 4, 20)`.
        melodies (`list[dict]`):
            For each output, the melody that guided it: `id`, `caption`, `source` (the retrieved database entry,
            or `"user"` / `"melody_embeds"`, or `"null"`: no retriever and no melody, the model's null melody),
            `tokens` (official token string), `notes` (`list[Note]`) and the retrieval `score` (cosine; `None` for a
            melody not retrieved). With the frame-aligned melody input, `notes` and
            `tokens` are exactly what the sketch rendered (from t = 0, cut or repeated to the length) and
            `source_tokens` the melody as given or stored. `None` entries for a text-only model.
        scores (`np.ndarray` of shape `(batch,)`, *optional*):
            The aligner score of each output (cosine of its audio embedding and the query), when
            `num_candidates > 1` re-ranked the candidates; else `None`.
    """

    audios: np.ndarray | torch.Tensor
    melodies: list[dict | None]
    scores: np.ndarray | None = None


# A user melody -> `(tokens, notes)`: the project's one melody loader (MIDI, audio, ABC, note lists, tokens, notes).
melody_to_tokens = load_melody


def _melody_info(source: str, tokens: str | None = None, notes: list[Note] | None = None) -> dict:
    """An output's melody entry for a melody that is not a database entry (`MMGenPipelineOutput.melodies`)."""
    return {"id": None, "caption": None, "source": source, "tokens": tokens, "notes": notes, "score": None}


def _parse_notes(tokens: str | None) -> list[Note] | None:
    """A database entry's notes (`None` for an entry without a readable melody)."""
    try:
        return string_to_notes(tokens) if tokens else None
    except MelodyError:
        return None


class MMGenPipeline(DiffusionPipeline):
    r"""
    Pipeline for melody-guided text-to-music and music-to-music generation (MMGen, paper 4.2).

    This model inherits from [`DiffusionPipeline`]. Check the superclass documentation for the generic methods
    implemented for all pipelines (downloading, saving, running on a particular device, etc.).

    Args:
        vae ([`AutoencoderKL`]):
            The mel VAE (`mmgen.models.vae`): log-mel `(B, 1, frames, 80)` <-> latents `(B, 8, frames / 4, 20)`.
        vocoder ([`VocosVocoder`] or [`~transformers.SpeechT5HifiGan`], *optional*):
            Turns log-mels into 22,050 Hz waveforms (`mmgen.models.vocoder`): the Vocos-style `VocosVocoder`
            (`mmgen.models.vocos`, trained here) or a HiFi-GAN. None (saved as null in `model_index.json`):
            the packaged HiFi-GAN V1 universal generator, converted on first use, so that a pipeline using the
            unmodified HiFi-GAN does not store 53 MB of weights that the package already has.
        unet ([`UNet2DConditionModel`]):
            The denoiser, conditioned through its class embedding (`mmgen.models.unet`).
        scheduler ([`SchedulerMixin`]):
            Any diffusers scheduler, used as given (a multistep solver restarts in every window of a long piece).
            The shipped default's is DPM-Solver++ 2M with Karras sigmas (`sampler_scheduler("dpm++")`); the models
            were trained with the DDPM schedule of `default_scheduler()`, whose DDIM needs about 50 steps.
        aligner ([`~transformers.PreTrainedModel`]):
            The `TriModalAligner`: `embed_text`, `embed_audio`, `embed_melody` into its joint space.
        condition_projector ([`ConditionProjector`]):
            `c = MLP([q, r])` with the learned nulls of classifier-free guidance.
        melody_tokenizer ([`~transformers.PreTrainedTokenizer`], *optional*):
            The `MelodyTokenizer`, saved with the pipeline so that melody token strings stay decodable.
        retriever ([`~diffusers.ModelMixin`], *optional*):
            The `MelodyRetriever` (melody database). Not needed by a text-only model, nor by calls that pass a
            `melody` (or `melody_embeds`). Without it, a call with no melody runs with the null melody (the input of
            the melody-dropped training examples; a warning says so and `melodies[i]["source"]` is `"null"`) when
            the model was trained with melody-only dropout (`condition_projector.config.melody_dropout > 0`), and
            raises otherwise: such a model never saw a prompt without its melody.
        melody_encoder ([`PianoRollEncoder`], *optional*):
            The frame-aligned melody as a learned projection of its piano roll (the measured alternative to the
            melody sketch). None (the default): a UNet with extra input channels takes the VAE-encoded sketch.
        vocoder_method (`str`, *optional*):
            `mmgen.models.vocoder.mel_to_audio` method: `"vocos"` or `"vocos-hybrid"` (Vocos + Griffin-Lim; both
            need a `VocosVocoder`), `"hybrid"` (HiFi-GAN + Griffin-Lim), `"hifigan"` or `"griffinlim"`; `"hybrid"` and
            `"hifigan"` take the packaged HiFi-GAN when `vocoder` is not one (`benchmarks/results/vocoder.json`
            compares them all). None: `"vocos"` for a `VocosVocoder`, else `"hybrid"`.

    Precision: `from_pretrained` loads float32 unless `dtype` says otherwise (a `torch.dtype`, or a dict per component
    name with an optional `"default"`). The retriever always keeps its embeddings in float32, on purpose: they are the
    FAISS index's vectors and the retrieved `r` (`pipe.to(dtype=...)` moves it between devices but never casts it).
    Variants (`save_pretrained(..., variant="fp16")`) name the weight files of every component but the retriever,
    whose folder format has no variant.
    """

    model_cpu_offload_seq = "aligner->condition_projector->unet->vae->vocoder"
    _optional_components = ["melody_tokenizer", "retriever", "vocoder", "melody_encoder"]
    _callback_tensor_inputs = ["latents", "condition_embeds"]

    def __init__(
        self,
        vae: AutoencoderKL,
        vocoder: VocosVocoder | SpeechT5HifiGan | None,
        unet: UNet2DConditionModel,
        scheduler: SchedulerMixin,
        aligner: PreTrainedModel,
        condition_projector: ConditionProjector,
        melody_tokenizer: PreTrainedTokenizer | None = None,
        retriever: Any = None,
        melody_encoder: PianoRollEncoder | None = None,
        vocoder_method: str | None = None,
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            vocoder=vocoder,
            unet=unet,
            scheduler=scheduler,
            aligner=aligner,
            condition_projector=condition_projector,
            melody_tokenizer=melody_tokenizer,
            retriever=retriever,
            melody_encoder=melody_encoder,
        )
        vocoder_method = default_method(vocoder) if vocoder_method is None else vocoder_method
        if vocoder_method.startswith("vocos") and not isinstance(vocoder, VocosVocoder):
            raise VocoderError(
                f"vocoder_method {vocoder_method!r} needs a VocosVocoder as `vocoder`, got {type(vocoder).__name__}"
            )
        self.register_to_config(vocoder_method=vocoder_method)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """`DiffusionPipeline.from_pretrained`, loading float32 when neither `dtype` nor `torch_dtype` is given.

        The shipped default stores its UNet, VAE and condition projector in float16 to keep the repository small;
        on CPU they must run in float32. `dtype` works as in diffusers: `dtype=torch.bfloat16` for every component, or
        `dtype={"unet": torch.float16, "default": torch.float32}` per component. The retriever ignores it (its FAISS
        vectors stay float32).

        A local folder must load completely: a config file that does not parse, a config value of the wrong type
        (found when loading fails) and a tensor missing from a weight file raise `ValueError` naming the file, and a
        rebuilt FAISS index (its checksum does not match) is reported once loading is done.
        """
        if kwargs.get("dtype") is None and kwargs.get("torch_dtype") is None:
            kwargs.pop("torch_dtype", None)
            kwargs["dtype"] = torch.float32
        path = pretrained_model_name_or_path
        local = isinstance(path, (str, os.PathLike)) and os.path.isdir(path)
        if local:
            check_config_files(os.fspath(path))
        try:
            pipe = super().from_pretrained(path, **kwargs)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError) as err:
            culprit = diagnose_config_types(os.fspath(path)) if local else None
            if culprit is None:
                raise
            raise ValueError(f"could not load the pipeline: {culprit}. ({type(err).__name__}: {err})") from err
        if local:
            check_complete_weights(pipe, os.fspath(path))
        reason = getattr(pipe.retriever, "index_rebuild_reason", None)
        if reason:  # said during loading, where the progress bar's line swallows it
            logger.warning(f"retriever: {reason}")
        return pipe

    @property
    def sampling_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def uses_melody(self) -> bool:
        return bool(self.condition_projector.config.use_melody)

    @property
    def uses_melody_sketch(self) -> bool:
        """Whether the UNet takes the frame-aligned melody sketch beside the noisy latent (the v2 design)."""
        return unet_sketch_channels(self.unet) > 0

    # Per-call state, set by `__call__` and readable (or, with the underscore names, writable) by a
    # `callback_on_step_end`: e.g. `pipe._guidance_scale = 5.0` changes the guidance from the next step on.
    @property
    def guidance_scale(self) -> float:
        """The paper's `w` of the running call (not diffusers' scale: see `__call__`'s `guidance_scale`)."""
        return self._guidance_scale

    @property
    def melody_guidance_scale(self) -> float | None:
        return self._melody_guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        """`guidance_scale > 0`: the paper's `w`, where 0 disables guidance (diffusers' pipelines test `> 1`)."""
        return self._guidance_scale > 0

    @property
    def attention_kwargs(self) -> dict | None:
        return self._attention_kwargs

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        """Set `pipe._interrupt = True` (e.g. from a callback) to skip the remaining denoising steps."""
        return self._interrupt

    # ----------------------------------------------------------------------------------------------- inputs
    def check_inputs(
        self,
        prompt,
        audio,
        melody,
        negative_prompt,
        audio_length_in_s,
        num_inference_steps,
        guidance_scale,
        melody_guidance_scale,
        num_waveforms_per_prompt,
        num_candidates,
        prompt_embeds,
        melody_embeds,
        output_type,
        callback_on_step_end_tensor_inputs=None,
        negative_prompt_embeds=None,
        melody_from_audio=False,
        audio_prompt=None,
        window_length_in_s=DEFAULT_WINDOW_S,
        window_overlap_in_s=2.0,
        window_crossfade_in_s=None,
        melody_extension="repeat",
    ):
        has_melody = melody is not None or melody_embeds is not None or melody_from_audio
        if prompt is None and audio is None and prompt_embeds is None and not has_melody and audio_prompt is None:
            raise ValueError(
                "Nothing to generate from: pass `prompt` (text-to-music), `audio` (music-to-music), `melody`, "
                "`prompt_embeds` or an `audio_prompt` to continue."
            )
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("Pass either `prompt` or `prompt_embeds`, not both.")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("Pass either `negative_prompt` or `negative_prompt_embeds`, not both.")
        if audio is not None and (prompt is not None or prompt_embeds is not None):
            raise ValueError("Pass either `prompt`/`prompt_embeds` (text-to-music) or `audio` (music-to-music).")
        if melody is not None and melody_embeds is not None:
            raise ValueError("Pass either `melody` or `melody_embeds`, not both.")
        if melody_from_audio and (audio is None or melody is not None or melody_embeds is not None):
            raise ValueError("`melody_from_audio=True` needs `audio` and no `melody`: it transcribes the audio.")
        for name, value in (("prompt", prompt), ("negative_prompt", negative_prompt)):
            if value is None:
                continue
            texts = [value] if isinstance(value, str) else value
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise ValueError(f"`{name}` must be a string or a non-empty list of strings, got {type(value)}.")
            if any(not t.strip() for t in texts):
                raise ValueError(f"`{name}` contains an empty string; describe the music to generate.")
            for t in texts:
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError as err:  # a lone surrogate (e.g. bytes decoded with surrogateescape)
                    raise ValueError(
                        f"`{name}` is not valid Unicode text (character {err.start}: {t[err.start : err.end]!a})."
                    ) from err
        check_number("audio_length_in_s", audio_length_in_s, low=MIN_AUDIO_LENGTH_S, high=MAX_AUDIO_LENGTH_S)
        check_number("window_length_in_s", window_length_in_s, low=MIN_WINDOW_S, high=MAX_WINDOW_S)
        check_number("window_overlap_in_s", window_overlap_in_s, low=MIN_WINDOW_OVERLAP_S,
                     high=float(window_length_in_s) / 2)  # fmt: skip
        if melody_extension not in MELODY_EXTENSIONS:
            raise ValueError(f"`melody_extension` must be one of {MELODY_EXTENSIONS}, got {melody_extension!r}.")
        if window_crossfade_in_s is not None:
            check_number("window_crossfade_in_s", window_crossfade_in_s, low=0.0, high=float(window_overlap_in_s) / 2)
        if audio_prompt is not None:
            if isinstance(audio_prompt, (list, tuple)) or getattr(audio_prompt, "ndim", 1) > 2:
                raise ValueError(
                    "`audio_prompt` is one recording (a path or a waveform) continued in every output, not a batch."
                )
            if melody_from_audio:
                raise ValueError("`melody_from_audio` transcribes `audio`; a continuation's melody is `melody`.")
        check_number("num_inference_steps", num_inference_steps, low=1, high=MAX_INFERENCE_STEPS, integer=True)
        check_number("guidance_scale", guidance_scale, low=0.0)
        if melody_guidance_scale is not None:
            check_number("melody_guidance_scale", melody_guidance_scale)
        if melody_guidance_scale is not None and not self.uses_melody:
            raise ValueError("`melody_guidance_scale` needs a melody-conditioned model; this one is text-only.")
        if has_melody and not self.uses_melody:
            raise ValueError("This pipeline's condition projector is text-only (`use_melody=False`): no melody input.")
        if prompt is None and audio is None and prompt_embeds is None and not self.uses_melody:
            raise ValueError("A text-only model needs `prompt`, `audio` or `prompt_embeds`.")
        check_number("num_waveforms_per_prompt", num_waveforms_per_prompt, low=1, high=MAX_WAVEFORMS_PER_PROMPT,
                      integer=True)  # fmt: skip
        check_number("num_candidates", num_candidates, low=1, high=MAX_NUM_CANDIDATES, integer=True)
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}.")
        cfg = self.condition_projector.config
        for name, embeds, dim in (("prompt_embeds", prompt_embeds, cfg.query_dim),
                                  ("negative_prompt_embeds", negative_prompt_embeds, cfg.query_dim),
                                  ("melody_embeds", melody_embeds, cfg.melody_dim)):  # fmt: skip
            if embeds is not None and (embeds.ndim != 2 or embeds.shape[-1] != dim):
                raise ValueError(
                    f"`{name}` must have shape (batch_size, {dim}) to match the condition projector, "
                    f"got {tuple(embeds.shape)}."
                )
        batch_size = self._check_batch_sizes(prompt, audio, melody, prompt_embeds, melody_embeds, negative_prompt,
                                             negative_prompt_embeds)  # fmt: skip
        generations = (batch_size or 1) * num_waveforms_per_prompt * num_candidates
        if generations > MAX_GENERATIONS_PER_CALL:
            raise ValueError(
                f"{batch_size or 1} prompts x {num_waveforms_per_prompt} waveforms x {num_candidates} candidates is "
                f"{generations} generations in one call; the limit is {MAX_GENERATIONS_PER_CALL} (split the batch)."
            )
        negative = guidance_scale > 0 and (negative_prompt is not None or negative_prompt_embeds is not None)
        needs_retrieval = self.uses_melody and (not has_melody or negative)
        if needs_retrieval and self.retriever is None and not cfg.melody_dropout > 0:
            raise ValueError(
                "This pipeline has no `retriever`, and its model was trained without melody-only dropout "
                "(`condition_projector.config.melody_dropout == 0`), so it never learned to generate without a "
                "melody: pass `melody` (or `melody_embeds`), no negative prompt, or load the pipeline with its "
                "retriever."
            )
        if callback_on_step_end_tensor_inputs is not None and not all(
            k in self._callback_tensor_inputs for k in callback_on_step_end_tensor_inputs
        ):
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has to be in {self._callback_tensor_inputs}, "
                f"got {callback_on_step_end_tensor_inputs}."
            )

    def _check_batch_sizes(self, prompt, audio, melody, prompt_embeds, melody_embeds, negative_prompt,
                           negative_prompt_embeds) -> int | None:  # fmt: skip
        """One melody per prompt (or one for all), one negative prompt per prompt (or one for all); returns the
        number of prompts (None when it is not known before encoding)."""
        if isinstance(melody, (list, tuple)) and not melody:
            raise MelodyError("`melody` is empty: the melody has no notes.")
        num_prompts = None
        if prompt is not None:
            num_prompts = 1 if isinstance(prompt, str) else len(prompt)
        elif prompt_embeds is not None:
            num_prompts = prompt_embeds.shape[0]
        elif audio is not None:
            num_prompts = len(self._audio_items(audio))
        num_melodies = None
        if melody is not None:
            num_melodies = len(self._melody_items(melody))
        elif melody_embeds is not None:
            num_melodies = melody_embeds.shape[0]
        if num_prompts is not None and num_melodies is not None and num_melodies not in (1, num_prompts):
            raise ValueError(
                f"Got {num_melodies} melodies for {num_prompts} prompts; pass one melody per prompt (or one for all)."
            )
        batch_size = num_prompts or num_melodies
        if isinstance(negative_prompt, list) and len(negative_prompt) != batch_size:
            raise ValueError(f"Got {len(negative_prompt)} negative prompts for {batch_size} prompts.")
        if negative_prompt_embeds is not None and negative_prompt_embeds.shape[0] not in (1, batch_size):
            raise ValueError(
                f"Got `negative_prompt_embeds` for {negative_prompt_embeds.shape[0]} prompts, not 1 or {batch_size}."
            )
        return batch_size

    @staticmethod
    def _as_batch(value, is_item: Callable[[Any], bool]) -> list | None:
        """`value` as a list of per-prompt items (a single item becomes a batch of one)."""
        if value is None:
            return None
        return [value] if is_item(value) else list(value)

    @staticmethod
    def _array_items(array, name: str) -> list:
        """A waveform array as per-prompt clips: `(samples,)` one clip; `(samples, channels)` with at most
        `MAX_INPUT_CHANNELS` channels (soundfile's layout) one clip, downmixed when loaded; `(batch, samples)` a batch.
        Anything else raises `AudioError` (read as a batch, a stereo array would be 22,050 clips per second)."""
        if array.ndim == 1:
            return [array]
        if array.ndim == 2 and array.shape[1] <= MAX_INPUT_CHANNELS < array.shape[0]:
            return [array]
        if array.ndim == 2 and array.shape[1] > MAX_INPUT_CHANNELS:
            return list(array)
        raise AudioError(
            f"`{name}`: an array must be one clip (samples,) or (samples, channels) with at most {MAX_INPUT_CHANNELS} "
            f"channels, or a batch (batch, samples); got shape {tuple(array.shape)}. For channels first (librosa's "
            "layout) pass `array.T`; for a batch of multi-channel clips pass a list."
        )

    @classmethod
    def _audio_items(cls, audio) -> list | None:
        """`audio` as a list of per-prompt references (a path, or a waveform array: see `_array_items`)."""
        if isinstance(audio, (np.ndarray, torch.Tensor)):
            return cls._array_items(audio, "audio")
        return cls._as_batch(audio, lambda a: isinstance(a, (str, os.PathLike, bytes)))

    @classmethod
    def _melody_items(cls, melody) -> list | None:
        """`melody` as a list of per-prompt melodies (a path, a waveform, a `list[Note]` or a token string each)."""
        if isinstance(melody, (np.ndarray, torch.Tensor)):
            return cls._array_items(melody, "melody")

        def is_item(m):
            return (
                isinstance(m, (str, os.PathLike))
                or (isinstance(m, (list, tuple)) and len(m) > 0 and isinstance(m[0], Note))
                or isinstance(m, LoadedMelody)
            )

        return cls._as_batch(melody, is_item)

    def _load_waveforms(self, audio) -> list[np.ndarray]:
        """Each reference as a mono waveform at 22,050 Hz, between `MIN_INPUT_SECONDS` and `MAX_INPUT_SECONDS` long,
        peaking at most at `MAX_INPUT_PEAK` (louder float audio is refused, not renormalised: see
        `validate_waveform`), not silent."""
        return [self._load_waveform(item, f"audio[{i}]", MIN_INPUT_SECONDS, MAX_INPUT_SECONDS)
                for i, item in enumerate(self._audio_items(audio))]  # fmt: skip

    @staticmethod
    def _load_waveform(item, name: str, min_seconds: float, max_seconds: float) -> np.ndarray:
        """One recording (a path, or a waveform array: see `_array_items`) as a mono waveform at 22,050 Hz, between
        `min_seconds` and `max_seconds` long, peaking at most at `MAX_INPUT_PEAK`, not silent."""
        bounds = {"min_duration_s": min_seconds, "max_duration_s": max_seconds, "max_peak": MAX_INPUT_PEAK,
                  "allow_silent": False}  # fmt: skip
        if isinstance(item, (str, os.PathLike, bytes)):
            return load_audio(item, SAMPLE_RATE, **bounds)
        if isinstance(item, (np.ndarray, torch.Tensor)):
            return validate_waveform(to_mono(item, name=name), SAMPLE_RATE, name=name, **bounds)
        raise AudioError(f"{name}: expected a path or a mono waveform array, got {type(item).__name__}.")

    # ---------------------------------------------------------------------------------------------- encoding
    def encode_prompt(
        self,
        prompt: str | list[str] | None = None,
        audio: Any = None,
        melody: Any = None,
        device: torch.device | None = None,
        num_waveforms_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt: str | list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        melody_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        separate_melody_guidance: bool = False,
        audio_length_in_s: float | None = None,
        melody_offset_s: float = 0.0,
        melody_extension: str = "repeat",
    ) -> tuple[torch.Tensor, list[dict | None], torch.Tensor]:
        r"""
        Everything the denoising loop needs from the inputs: the condition `c = MLP([q, r])`, stacked for guidance,
        and the melody that guides each output.

        Args:
            prompt, audio, melody, negative_prompt, prompt_embeds, melody_embeds: as in `__call__` (the query `q` is
                `prompt_embeds`, else the aligner's embedding of `prompt` or `audio`, else of the melody alone; the
                melody `r` is `melody_embeds`, else the user melody's embedding, else the retriever's best match for
                `q`, else, with no retriever, the null melody).
            device (`torch.device`, *optional*): defaults to the pipeline's execution device.
            num_waveforms_per_prompt (`int`): outputs per prompt (`__call__` passes `num_waveforms_per_prompt *
                num_candidates`); every returned row is repeated this many times, consecutively.
            do_classifier_free_guidance (`bool`): stack the unconditional condition first (see `encode_condition`).
            negative_prompt_embeds (`torch.Tensor` of shape `(batch_size or 1, query_dim)`, *optional*): a
                precomputed negative query (the aligner's embedding of `negative_prompt`); its melody is retrieved
                as `negative_prompt`'s is.
            separate_melody_guidance (`bool`): also stack the query-only condition `[q, r_null]` (for
                `melody_guidance_scale`).
            audio_length_in_s (`float`, *optional*): with the frame-aligned melody input, the output length: each
                melody is then fitted to it (`fit_melodies`), so that the returned notes are the ones the sketch
                renders.
            melody_offset_s (`float`): where the fitted melody starts in the output (a continuation's prompt length).
            melody_extension (`str`): how a retrieved melody shorter than the output goes on (see `__call__`).

        Returns:
            `(condition_embeds, melodies, query_embeds)`: `condition_embeds` of shape `(k * batch_size * n,
            condition_dim)` in the UNet's dtype, `k` blocks of `batch_size * n` rows as `encode_condition` stacks
            them (`n = num_waveforms_per_prompt`); `melodies`, one dict (or `None` for a text-only model) per output
            row (`id`, `caption`, `source`, `tokens`, `notes`, `score`; see `MMGenPipelineOutput.melodies`);
            `query_embeds` `(batch_size * n, query_dim)`, float32, for the candidates' aligner score.
        """
        device = device or self._execution_device
        query = self.encode_query(prompt, audio, device, prompt_embeds)
        extra = MAX_CHAINED_MELODIES if melody_extension == "retrieve" and self.uses_melody_sketch else 0
        r, melodies = self.encode_melody(melody, query, device, melody_embeds, num_following=extra)
        if query is None:  # a melody alone: its own joint-space embedding is the query
            query = r
        if query is None:
            raise ValueError("Nothing to encode: pass `prompt`, `audio`, `prompt_embeds` or a melody.")
        batch_size = query.shape[0]
        if r is not None and r.shape[0] == 1 and batch_size > 1:  # one melody for every prompt
            r, melodies = r.expand(batch_size, -1), melodies * batch_size
        if r is not None and r.shape[-1] != self.condition_projector.config.melody_dim:
            raise ValueError(
                f"The melody embeddings have dimension {r.shape[-1]}, the condition projector expects "
                f"{self.condition_projector.config.melody_dim}."
            )
        if audio_length_in_s is not None and self.uses_melody_sketch:
            melodies = self.fit_melodies(melodies, audio_length_in_s, melody_offset_s)

        negative_condition = negative_melody = None
        if do_classifier_free_guidance and (negative_prompt is not None or negative_prompt_embeds is not None):
            negative_condition, negative_melody = self._encode_negative(
                negative_prompt, negative_prompt_embeds, batch_size, device
            )
        if any(info is not None and info["source"] == "null" for info in [*melodies, negative_melody]):
            logger.warning(
                "No `retriever` in this pipeline: where no `melody` is given (for the prompt, or for the negative "
                "prompt), the null melody is used (the input of the melody-dropped training examples), so that "
                "condition follows its query only; such outputs have `melodies[i]['source'] == 'null'`."
            )
        condition = self.encode_condition(
            query, r, do_classifier_free_guidance, separate_melody_guidance, negative_condition
        )
        n = num_waveforms_per_prompt
        condition_embeds = condition.repeat_interleave(n, dim=0).to(self.unet.dtype)
        melodies = [info for info in melodies for _ in range(n)]
        return condition_embeds, melodies, query.repeat_interleave(n, dim=0)

    def _encode_negative(
        self, negative_prompt, negative_prompt_embeds, batch_size: int, device: torch.device
    ) -> tuple[torch.Tensor, dict | None]:
        """The negative condition (the guidance's unconditional input): the negative query with its retrieved melody;
        returns it and that melody's info."""
        negatives = [negative_prompt] * batch_size if isinstance(negative_prompt, str) else negative_prompt
        negative_query = self.encode_query(negatives, None, device, negative_prompt_embeds).expand(batch_size, -1)
        negative_melody, info = self.encode_melody(None, negative_query, device)
        return self._project(negative_query, negative_melody), info[0]

    def encode_query(
        self,
        prompt: str | list[str] | None,
        audio: Any,
        device: torch.device,
        prompt_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor | None:
        r"""
        The query `q`: the aligner's text embedding of `prompt`, or its audio embedding of `audio`.

        Returns:
            `torch.Tensor` of shape `(batch_size, query_dim)` (float32), or `None` when neither is given.
        """
        if prompt_embeds is not None:
            return prompt_embeds.to(device=device, dtype=torch.float32)
        if prompt is not None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            q = self.aligner.embed_text(prompts)
        elif audio is not None:
            q = self.aligner.embed_audio(self._load_waveforms(audio))
        else:
            return None
        return q.to(device=device, dtype=torch.float32)

    def encode_melody(
        self,
        melody: Any,
        query: torch.Tensor | None,
        device: torch.device,
        melody_embeds: torch.Tensor | None = None,
        num_following: int = 0,
    ) -> tuple[torch.Tensor | None, list[dict | None]]:
        r"""
        The melody embedding `r` and what it is: `melody_embeds`, a user melody (no retrieval), the best match of
        `query` in the retriever's database, or, with no retriever, the null melody. With `num_following`, a
        retrieved melody's dict also holds the notes of the next `num_following` matches (`following`: a list of
        `(id, notes)`) to play after it in a long piece (`fit_melodies`).

        Returns:
            `(r, info)`: `r` of shape `(batch_size, melody_dim)`, or `None` for a text-only model and for the null
            melody (`ConditionProjector` then uses its learned `null_melody`); and one dict per prompt (`id`,
            `caption`, `source`, `tokens`, `notes`, `score`), `source` being `"user"`, `"melody_embeds"`, `"null"`
            or the retrieved entry's.
        """
        if not self.uses_melody:
            return None, [None] * (0 if query is None else query.shape[0])
        if melody_embeds is not None:
            return melody_embeds.to(device=device, dtype=torch.float32), [
                _melody_info("melody_embeds") for _ in range(melody_embeds.shape[0])
            ]
        if melody is not None:
            melodies = self._melody_items(melody)
            if not melodies:
                raise MelodyError("`melody` is empty: the melody has no notes.")
            parsed = [load_melody(m, name=f"melody[{i}]") for i, m in enumerate(melodies)]
            info = [_melody_info("user", tokens=m.tokens, notes=m.notes) | {"kind": m.source_kind, "edits": m.edits}
                    for m in parsed]  # fmt: skip
            r = self.aligner.embed_melody([m.tokens for m in parsed])
            return r.to(device=device, dtype=torch.float32), info
        if self.retriever is None:
            return None, [_melody_info("null") for _ in range(query.shape[0])]
        num_following = min(num_following, max(len(self.retriever) - 1, 0))  # k = 1 as ever without followers
        result = self.retriever.search(query.detach().float().cpu(), k=1 + num_following)
        r = torch.as_tensor(result.embeddings)[:, 0].to(device=device, dtype=torch.float32)
        info = []
        for i, hits in enumerate(result.metadata):
            meta = dict(hits[0])
            tokens, score = meta.get("melody"), float(result.scores[i][0])
            info.append({"id": meta.get("id"), "caption": meta.get("caption"), "source": meta.get("source"),
                         "tokens": tokens, "notes": _parse_notes(tokens), "score": score})  # fmt: skip
            if num_following:
                following = [(hit.get("id"), _parse_notes(hit.get("melody"))) for hit in hits[1:]]
                info[-1]["following"] = [(id_, notes) for id_, notes in following if notes]
        return r, info

    def _project(self, query: torch.Tensor, melody: torch.Tensor | None, drop_melody: bool = False) -> torch.Tensor:
        """`c = MLP([q, r])`; `melody=None` on a melody model is the null melody `[q, r_null]`."""
        projector = self.condition_projector
        dtype = projector.null_query.dtype
        melody = melody.to(dtype) if melody is not None else None
        drop_melody = drop_melody or (melody is None and self.uses_melody)
        return projector(query.to(dtype), melody, drop_melody=drop_melody)

    def encode_condition(
        self,
        query: torch.Tensor,
        melody: torch.Tensor | None,
        do_classifier_free_guidance: bool,
        separate_melody_guidance: bool,
        negative_condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""
        The UNet's class-label input, stacked for guidance as `classifier_free_guidance` expects.

        Returns:
            `torch.Tensor` of shape `(k * batch_size, condition_dim)`: `k = 1` without guidance, `[uncond, c]`
            (`k = 2`), or `[uncond, c_query_only, c]` (`k = 3`) with `separate_melody_guidance`. `uncond` is the
            null condition (the same input as the dropped training examples) or `negative_condition`. The
            conditional block is always last.
        """
        cond = self._project(query, melody)
        if not do_classifier_free_guidance:
            return cond
        uncond = negative_condition
        if uncond is None:
            uncond = self.condition_projector.null_condition(query.shape[0])
        parts = [uncond]
        if separate_melody_guidance:
            parts.append(self._project(query, melody, drop_melody=True))
        parts.append(cond)
        return torch.cat(parts)

    def prepare_latents(
        self,
        batch_size: int,
        audio_length_in_s: float,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, int]:
        r"""
        Initial noise of shape `(batch_size, C, T, 80 / vae_scale)`, `T` padded to a multiple of the UNet's factor.

        Returns:
            `(latents, num_frames)`: the scaled noise and the log-mel frames to keep after decoding.
        """
        num_frames = math.ceil(audio_length_in_s * SAMPLE_RATE / HOP_LENGTH)
        factor = unet_downsample_factor(self.unet)
        height = self.window_frames(audio_length_in_s)
        width = N_MELS // self.vae_scale_factor
        if width % factor:
            raise ValueError(
                f"The latent frequency axis ({width}) is not a multiple of the UNet's down-sampling factor ({factor})."
            )
        shape = (batch_size, self.unet.config.out_channels, height, width)
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(f"Got {len(generator)} generators for a batch of {batch_size} waveforms.")
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"`latents` must have shape {shape}, got {tuple(latents.shape)}.")
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma, num_frames

    def fit_melodies(
        self, melody_info: list[dict | None], audio_length_in_s: float, offset_s: float = 0.0
    ) -> list[dict | None]:
        r"""
        Each guiding melody placed from t = 0 and cut or repeated to the requested length: `notes` and `tokens` of the
        returned dicts are exactly the notes the melody sketch renders (the original ones stay under
        `source_tokens`). A continuation's melody starts where its prompt ends: its notes `offset_s` later (the
        token string, relative by design, does not carry that offset).

        Raises:
            `MelodyError` for a user melody with no note inside `audio_length_in_s` or a pitch the sketch cannot
            render.
        """
        fitted = []
        for i, info in enumerate(melody_info):
            if info is None or not info.get("notes"):
                fitted.append(info)
                continue
            name = f"melody[{i}]" if info["source"] == "user" else f"retrieved melody {info['id']!r}"
            notes = info["notes"]
            if info["source"] == "user":
                check_sketch_pitches(notes, name=name)
            following = info.get("following")
            info = {k: v for k, v in info.items() if k != "following"}
            try:
                if following:  # a retrieved melody goes on with the next matches, in its key and tempo
                    notes, used = chain_melodies(notes, [f for _, f in following], audio_length_in_s)
                    info = {**info, "followed_by": [id_ for id_, _ in following[:used]]}
                else:
                    notes = fit_to_length(notes, audio_length_in_s)
            except MelodyError as error:
                raise MelodyError(f"{name}: {error}") from None
            if offset_s:
                notes = [Note(n.onset + offset_s, n.offset + offset_s, n.pitch, n.velocity) for n in notes]
            fitted.append({**info, "source_tokens": info["tokens"], "tokens": notes_to_string(notes), "notes": notes})
        return fitted

    def prepare_melody_latents(
        self,
        melody_info: list[dict | None],
        height: int,
        device: torch.device,
        dtype: torch.dtype,
        start_s: float = 0.0,
    ) -> torch.Tensor:
        r"""
        The frame-aligned melody condition: each melody's sketch (`mmgen.melody.sketch`) encoded by the pipeline's VAE,
        or, with a `melody_encoder`, its piano roll on the latent frame grid through that learned projection.

        Args:
            melody_info: one dict per generated waveform with the `notes` to render (see `fit_melodies`); an entry
                without notes gets the null sketch (zeros, the input of training examples whose melody was dropped).
            height (`int`): latent frames; the sketch covers `height * vae_scale_factor` log-mel frames.
            start_s (`float`): where these frames start in the piece (a window of a long piece): the notes sounding
                in `[start_s, start_s + height frames)` are rendered, shifted to its start.
        Returns:
            `torch.Tensor` of shape `(len(melody_info), latent_channels, height, 80 / vae_scale_factor)`.
        """
        num_frames = height * self.vae_scale_factor
        frame_seconds = self.vae_scale_factor * HOP_LENGTH / SAMPLE_RATE
        inputs, rows = [], []
        for i, info in enumerate(melody_info):
            if info is not None and info.get("notes"):
                notes = notes_in_span(info["notes"], start_s, start_s + height * frame_seconds)
                if self.melody_encoder is not None:
                    inputs.append(torch.from_numpy(piano_roll(notes, height, frame_seconds)))
                else:
                    inputs.append(torch.from_numpy(sketch_log_mel(notes, num_frames)))
                rows.append(i)
        width = N_MELS // self.vae_scale_factor
        shape = (len(melody_info), self.unet.config.out_channels, height, width)
        sketch = torch.zeros(shape, device=device, dtype=dtype)
        if inputs and self.melody_encoder is not None:
            encoder = self.melody_encoder
            rolls = torch.stack(inputs).to(encoder.device, encoder.dtype)
            sketch[rows] = encoder(rolls).to(device=device, dtype=dtype)
        elif inputs:
            sketch[rows] = encode_mels(self.vae, torch.stack(inputs)).to(device=device, dtype=dtype)
        return sketch

    def prepare_extra_step_kwargs(self, generator, eta: float = 0.0) -> dict:
        params = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs

    # ------------------------------------------------------------------------------------------ long pieces
    def window_frames(self, seconds: float) -> int:
        """Latent frames of a clip of `seconds` (as `prepare_latents` makes it): its log-mel frames over the VAE's
        factor, rounded up to a multiple of the UNet's down-sampling factor; so a clip no longer than a window is
        one window."""
        factor = unet_downsample_factor(self.unet)
        height = math.ceil(math.ceil(seconds * SAMPLE_RATE / HOP_LENGTH) / self.vae_scale_factor)
        return math.ceil(height / factor) * factor

    def window_sizes(self, window_length_in_s: float, window_overlap_in_s: float) -> tuple[int, int]:
        """`(window, overlap)` in latent frames (the overlap at most half a window)."""
        window = self.window_frames(window_length_in_s)
        return window, min(self.window_frames(window_overlap_in_s), window // 2)

    def window_crossfade_frames(self, overlap_frames: int, window_crossfade_in_s: float | None = None) -> int:
        """Latent frames at the end of a window's shared part that are cross-faded, not held (half of
        `overlap_frames` by default)."""
        if window_crossfade_in_s is None:
            return overlap_frames // 2
        frame_s = self.vae_scale_factor * HOP_LENGTH / SAMPLE_RATE
        return min(int(round(window_crossfade_in_s / frame_s)), overlap_frames // 2)

    def encode_audio_prompt(self, audio_prompt: Any, window_frames: int) -> tuple[torch.Tensor, np.ndarray]:
        r"""
        A continuation's prompt: a path or a waveform (see `_array_items`) between `MIN_PROMPT_SECONDS` and
        `MAX_PROMPT_SECONDS`, not silent, encoded by the VAE window by window (posterior means).

        Returns:
            `(latents, waveform)`: latents of shape `(1, C, P, 80 / vae_scale_factor)`, the prompt's whole latent
            frames (a last partial frame is dropped), and the mono 22,050 Hz waveform they encode.
        """
        waveform = self._load_waveform(audio_prompt, "audio_prompt", MIN_PROMPT_SECONDS, MAX_PROMPT_SECONDS)
        scale = self.vae_scale_factor
        log_mel = torch.from_numpy(log_mel_spectrogram(waveform))
        frames = log_mel.shape[-1] // scale
        latents = torch.empty(1, self.vae.config.latent_channels, frames, N_MELS // scale, dtype=torch.float32)
        for window in plan_windows(frames, window_frames, overlap=min(frames, window_frames) // 4):
            chunk = encode_mels(self.vae, log_mel[None, :, window.start * scale : window.stop * scale]).float().cpu()
            crossfade_into(latents.transpose(2, 3), chunk.transpose(2, 3), window)
        return latents, waveform

    def denoise_window(
        self,
        latents: torch.Tensor,
        held: torch.Tensor | None,
        condition_embeds: torch.Tensor,
        melody_latents: torch.Tensor | None,
        num_inference_steps: int,
        extra_step_kwargs: dict,
        progress_bar,
        step_offset: int = 0,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""
        The denoising loop over one window of the piece (the whole clip when it fits in one).

        Args:
            latents (`torch.Tensor` of shape `(batch, C, frames, F)`): the window's initial noise, scaled by
                `scheduler.init_noise_sigma`.
            held (`torch.Tensor` of shape `(batch, C, h, F)`, *optional*): clean latents of the window's first `h`
                frames, made before (the previous window, or a continuation's prompt): before every step those
                frames are set to `held` noised to the step's level with the window's own noise (RePaint-style
                inpainting, as in diffusers' inpainting pipelines), and to `held` itself at the end.
            step_offset (`int`): steps of the windows before this one (the callback's step index counts on).
        Returns:
            `(latents, condition_embeds)`: the denoised window and the condition (a callback may change it).
        """
        self.scheduler.set_timesteps(num_inference_steps, device=latents.device)  # multistep solvers start afresh
        timesteps = self.scheduler.timesteps
        num_held = 0 if held is None else held.shape[2]
        noise = latents[:, :, :num_held] / self.scheduler.init_noise_sigma
        latents = latents.clone() if num_held else latents  # the held frames are written in place: not the caller's
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        for i, t in enumerate(timesteps):
            if self.interrupt:
                continue
            if num_held:
                latents[:, :, :num_held] = self.scheduler.add_noise(held, noise, t.reshape(1))
            noise_pred = self.predict_noise(latents, t, condition_embeds, melody_latents)
            latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample
            if callback_on_step_end is not None:
                tensors = {"latents": latents, "condition_embeds": condition_embeds}
                callback_kwargs = {k: tensors[k] for k in callback_on_step_end_tensor_inputs}
                callback_outputs = callback_on_step_end(self, step_offset + i, t, callback_kwargs) or {}
                latents = callback_outputs.pop("latents", latents)
                condition_embeds = callback_outputs.pop("condition_embeds", condition_embeds)
            if i == len(timesteps) - 1 or ((i + 1) > num_warmup_steps and (i + 1) % self.scheduler.order == 0):
                progress_bar.update()
        if num_held:
            latents[:, :, :num_held] = held
        return latents, condition_embeds

    # -------------------------------------------------------------------------------------------- denoising
    def predict_noise(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        condition_embeds: torch.Tensor,
        melody_latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""
        One guided noise prediction: the UNet on every guidance branch of `condition_embeds` (as `encode_prompt`
        stacks them, the conditional block last) in one batched call, combined with the current `guidance_scale` and
        `melody_guidance_scale`.

        The branch count is read from `condition_embeds` at each step, so a `callback_on_step_end` can change the
        guidance mid-run: a new `pipe._guidance_scale` applies from the next step (0 keeps the passes but uses the
        conditional prediction alone, as a run without guidance does), and returning `condition_embeds.chunk(2)[-1]`
        as `condition_embeds` drops the unconditional pass. Guidance cannot be turned on in a run that started
        without it (there is no unconditional input to guide with).

        Args:
            melody_latents (`torch.Tensor`, *optional*): the melody sketch of each output (`prepare_melody_latents`);
                the unconditional branches get the null sketch (zeros).
        """
        num_branches, rest = divmod(condition_embeds.shape[0], latents.shape[0])
        if rest or num_branches not in (1, 2, 3):
            raise ValueError(
                f"`condition_embeds` has {condition_embeds.shape[0]} rows for {latents.shape[0]} latents: expected "
                "1, 2 or 3 guidance branches."
            )
        if num_branches == 1 and self.do_classifier_free_guidance:
            raise ValueError(
                "`guidance_scale` > 0 but `condition_embeds` has no unconditional branch: guidance cannot be turned "
                "on in a run that started without it."
            )
        latent_model_input = torch.cat([latents] * num_branches) if num_branches > 1 else latents
        latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)
        if melody_latents is not None:
            sketch = torch.cat([torch.zeros_like(melody_latents)] * (num_branches - 1) + [melody_latents])
            latent_model_input = torch.cat([latent_model_input, sketch], dim=1)
        if latent_model_input.device.type == "cpu":  # oneDNN's convolutions run ~10% faster on NHWC inputs
            latent_model_input = latent_model_input.contiguous(memory_format=torch.channels_last)
        autocast_dtype = getattr(self, "_autocast_dtype", None)  # set by `__call__`
        with torch.autocast(latents.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            noise_pred = self.unet(
                latent_model_input,
                t,
                encoder_hidden_states=None,
                class_labels=condition_embeds,
                cross_attention_kwargs=self.attention_kwargs,
                return_dict=False,
            )[0]
        noise_pred = noise_pred.to(latents.dtype)  # the scheduler steps in the latents' dtype
        if num_branches == 1 or not self.do_classifier_free_guidance:  # w = 0: the conditional prediction alone
            return noise_pred.chunk(num_branches)[-1]
        beta = None
        if num_branches == 3:  # [uncond, query only, cond]; beta = 1 is the plain formula
            beta = 1.0 if self.melody_guidance_scale is None else self.melody_guidance_scale
        return classifier_free_guidance(noise_pred, self.guidance_scale, beta)

    # ------------------------------------------------------------------------------------------------ output
    def decode_latents(
        self, latents: torch.Tensor, num_frames: int, window_frames: int | None = None, overlap_frames: int = 0
    ) -> torch.Tensor:
        """Latents `(batch, C, frames, F)` -> natural-log mels of shape `(batch, 80, num_frames)`; window by window
        (`window_frames` latent frames, each cross-faded into the piece over `overlap_frames`) for a longer piece, so
        that the VAE's memory does not grow with the length."""
        if latents.device.type == "cpu":  # oneDNN's convolutions run faster on NHWC inputs (the decoder ~15%)
            latents = latents.contiguous(memory_format=torch.channels_last)
        windows = plan_windows(latents.shape[2], window_frames or latents.shape[2], overlap_frames)
        if len(windows) == 1:
            return decode_latents(self.vae, latents, num_frames=num_frames)
        scale = self.vae_scale_factor
        mels = torch.empty(latents.shape[0], N_MELS, latents.shape[2] * scale, dtype=torch.float32)
        for window in windows:
            chunk = decode_latents(self.vae, latents[:, :, window.start : window.stop]).float().cpu()
            crossfade_into(mels, chunk, scale_window(window, scale))
        return mels[..., :num_frames]

    def mel_to_waveform(
        self, log_mel: torch.Tensor, num_samples: int, window_frames: int | None = None, overlap_frames: int = 0
    ) -> torch.Tensor:
        """Log-mels `(batch, 80, frames)` -> float32 CPU waveforms `(batch, num_samples)`; window by window
        (`window_frames` log-mel frames, cross-faded over `overlap_frames`) for a longer piece."""
        windows = plan_windows(log_mel.shape[-1], window_frames or log_mel.shape[-1], overlap_frames)
        method = self.config.vocoder_method
        if len(windows) == 1:
            return mel_to_audio(log_mel, vocoder=self.vocoder, method=method).cpu().float()[:, :num_samples]
        waveforms = torch.empty(log_mel.shape[0], log_mel.shape[-1] * HOP_LENGTH, dtype=torch.float32)
        for window in windows:
            chunk = mel_to_audio(log_mel[..., window.start : window.stop], vocoder=self.vocoder, method=method)
            crossfade_into(waveforms, chunk.cpu().float(), scale_window(window, HOP_LENGTH))
        return waveforms[:, :num_samples]

    @torch.no_grad()
    def score_audio(self, waveforms: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Aligner score: cosine of each waveform's audio embedding and its query, shape `(batch,)`."""
        embeds = self.aligner.embed_audio(list(waveforms.numpy())).float().cpu()
        query = torch.nn.functional.normalize(query.float().cpu(), dim=-1)
        return (torch.nn.functional.normalize(embeds, dim=-1) * query).sum(-1)

    def select_best_candidates(
        self, waveforms: torch.Tensor, query_embeds: torch.Tensor, num_candidates: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""
        The `num_candidates` re-ranking: in each group of `num_candidates` consecutive waveforms (the candidates of
        one output), the one with the best aligner score (`score_audio` against its query).

        Args:
            waveforms (`torch.Tensor` of shape `(num_outputs * num_candidates, samples)`).
            query_embeds (`torch.Tensor` of shape `(num_outputs * num_candidates, query_dim)`): each row's query.
        Returns:
            `(keep, scores)`: the rows to keep `(num_outputs,)` and their scores `(num_outputs,)`.
        """
        scores = self.score_audio(waveforms, query_embeds)
        best = scores.view(-1, num_candidates).argmax(dim=1)
        keep = torch.arange(best.shape[0]) * num_candidates + best
        return keep, scores[keep]

    # ------------------------------------------------------------------------------------------------ call
    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        audio: Any = None,
        melody: Any = None,
        negative_prompt: str | list[str] | None = None,
        audio_length_in_s: float = 10.0,
        num_inference_steps: int = 12,
        guidance_scale: float = 3.0,
        melody_guidance_scale: float | None = None,
        num_waveforms_per_prompt: int = 1,
        num_candidates: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        melody_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        melody_from_audio: bool = False,
        audio_prompt: Any = None,
        window_length_in_s: float = DEFAULT_WINDOW_S,
        window_overlap_in_s: float = 2.0,
        window_crossfade_in_s: float | None = None,
        melody_extension: str = "repeat",
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable | PipelineCallback | MultiPipelineCallbacks | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        autocast: bool | None = None,
    ) -> MMGenPipelineOutput | tuple:
        r"""
        The call function to the pipeline for generation.

        Args:
            prompt (`str` or `list[str]`, *optional*):
                Text describing the music (text-to-music); its aligner text embedding is the query `q`.
            audio (`str`, `np.ndarray` or a list of them, *optional*):
                A reference recording (music-to-music): a path, or a mono waveform `(samples,)` at 22,050 Hz (a
                `(batch, samples)` array is a batch). Its aligner audio embedding is the query `q`.
            melody (*optional*):
                A melody to follow instead of a retrieved one: anything `mmgen.melody.load_melody` reads (a MIDI
                path, a `list[Note]`, an official token string, ABC notation, a note list such as `"bpm=100 C4 D4/2"`,
                audio as a path or waveform transcribed with Basic Pitch, or a `LoadedMelody` already shaped by
                transposition, tempo, trim or octave folding, whose `edits` are reported in `melodies[i]["edits"]`);
                or a list of these, one per prompt. Without
                `prompt` or `audio`, the melody's own embedding is also the query. Needed when the pipeline has no
                `retriever` and its model was trained without melody-only dropout; with melody-only dropout, no
                retriever and no melody mean the null melody (see the class docstring).
            negative_prompt (`str` or `list[str]`, *optional*):
                Replaces the null condition of the guidance's unconditional branch by this text's condition
                (with its retrieved melody).
            audio_length_in_s (`float`, *optional*, defaults to 10.0):
                Length of the generated audio, between 0.5 and 300 s (after the prompt, in a continuation). A piece
                longer than `window_length_in_s` is made window by window (see `window_length_in_s`).
            num_inference_steps (`int`, *optional*, defaults to 12):
                Denoising steps per window, for the shipped sampler (UniPC, bh2), which matches DDIM-50's melody
                adherence and FAD at 12 (`benchmarks/results/latency.json`, the steps sweep); DPM-Solver++ 2M needs
                about 20, DDIM about 50 (the paper's 100-200).
            guidance_scale (`float`, *optional*, defaults to 3.0):
                The paper's `w`, **not** diffusers' guidance scale: `eps = (w + 1) * eps(x, t, c) - w * eps(x, t,
                null)`. 0 disables guidance (one UNet pass; `do_classifier_free_guidance` is `guidance_scale > 0`);
                diffusers' scale `s` (`eps_null + s * (eps_c - eps_null)`, guidance above 1) is `w = s - 1`. The
                paper's convention is kept because the trained models' settings and the paper's results are in `w`.
            melody_guidance_scale (`float`, *optional*):
                Weighs the melody against the query (audiocraft's `cfg_coef_beta`, one more UNet pass per step):
                `eps = eps_null + (w + 1) * (eps_q + beta * (eps_qr - eps_q) - eps_null)`; 1 equals the default.
                Meaningful for models trained with a melody-only drop (`condition_projector.config.melody_dropout`).
            num_waveforms_per_prompt (`int`, *optional*, defaults to 1):
                Waveforms returned per prompt.
            num_candidates (`int`, *optional*, defaults to 1):
                Candidates generated per returned waveform; the ones with the best aligner score (cosine of their
                audio embedding and the query) are kept (`select_best_candidates`). The official setting is 3.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                Makes generation deterministic (a list: one per generated candidate).
            latents (`torch.Tensor`, *optional*):
                Initial noise of shape `(batch * num_waveforms_per_prompt * num_candidates, C, T, F)`.
            prompt_embeds (`torch.Tensor` of shape `(batch_size, query_dim)`, *optional*):
                A precomputed query `q` (instead of `prompt`/`audio`): `pipe.aligner.embed_text(prompts)`.
            melody_embeds (`torch.Tensor` of shape `(batch_size, melody_dim)`, *optional*):
                A precomputed melody embedding `r` (skips retrieval). It has no notes, so a model with the
                frame-aligned melody input gets the null sketch and follows only the global vector.
            negative_prompt_embeds (`torch.Tensor` of shape `(batch_size or 1, query_dim)`, *optional*):
                A precomputed negative query (instead of `negative_prompt`): `pipe.aligner.embed_text([negative])`.
            melody_from_audio (`bool`, *optional*, defaults to `False`):
                Music-to-music: follow the reference's own melody (transcribed with Basic Pitch) instead of the one
                its embedding retrieves (the paper's behaviour).
            audio_prompt (`str` or `np.ndarray`, *optional*):
                Continue this recording (a path or a mono waveform at 22,050 Hz, 1-60 s): its VAE latents are held as
                the start of the piece, and `audio_length_in_s` seconds of new music follow; the output holds both
                (the prompt as the VAE and vocoder render it). The new part follows `melody` when given; without
                `prompt`, `audio`, `prompt_embeds` or `melody`, the prompt is also the music-to-music query.
            window_length_in_s (`float`, *optional*, defaults to 20.0):
                A longer piece is denoised in windows of this length (4-30 s), each sharing its first
                `window_overlap_in_s` with what the previous one made: it holds the start of them to it
                (RePaint-style inpainting at every step) and cross-fades into the last `window_crossfade_in_s`; it
                is decoded window by window, so that time grows linearly with the length and memory does not grow
                beyond the output waveform. The melody spans the whole piece (repeated to its length).
            window_overlap_in_s (`float`, *optional*, defaults to 2.0):
                Seconds each window shares with the previous one (0.5 s up to half a window).
            window_crossfade_in_s (`float`, *optional*, defaults to half of `window_overlap_in_s`):
                The last seconds of the shared part (a continuation's prompt included), made afresh by the new window
                and cross-faded from the old frames to the new ones (in latent space) rather than held; 0 holds all
                of them; at most half the overlap. A free end joins more smoothly than held frames
                (`benchmarks/results/long_form.json`).
            melody_extension (`str`, *optional*, defaults to `"repeat"`):
                How a retrieved melody shorter than the output goes on: `"repeat"` plays it again end to end;
                `"retrieve"` plays the next matches of the query after it (up to `MAX_CHAINED_MELODIES`, then the
                chain again), each moved into the first one's key and tempo (`mmgen.melody.chain`); their ids are in
                `melodies[i]["followed_by"]`. A user melody is always repeated.
            output_type (`str`, *optional*, defaults to `"np"`):
                `"np"` or `"pt"` waveforms, `"mel"` log-mels, or `"latent"`.
            return_dict (`bool`, *optional*, defaults to `True`):
                Return an [`MMGenPipelineOutput`] instead of a tuple `(audios, melodies, scores)`.
            attention_kwargs (`dict`, *optional*):
                Passed to the UNet as `cross_attention_kwargs` (e.g. `{"scale": 0.5}` for a LoRA's scale). diffusers'
                blocks without cross-attention, which this UNet has, give them to no attention processor.
            callback_on_step_end (`Callable`, `PipelineCallback` or `MultiPipelineCallbacks`, *optional*):
                Called after each step as `callback_on_step_end(self, i, t, callback_kwargs)` with the tensors named
                in `callback_on_step_end_tensor_inputs`; may return a dict replacing them. It can read
                `guidance_scale`, `do_classifier_free_guidance`, `num_timesteps`, set `pipe._guidance_scale` (see
                `predict_noise`) or stop the run with `pipe._interrupt = True`.
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*, defaults to `["latents"]`):
                Tensors passed to the callback, from `_callback_tensor_inputs` (`"latents"`, `"condition_embeds"`).
            autocast (`bool`, *optional*):
                Run the UNet under bfloat16 autocast (`torch.autocast`; the scheduler, VAE and vocoder stay in their
                own dtype). None (the default): on a CPU that computes bfloat16 natively (AVX512-BF16 or AMX:
                `bf16_supported`) for a float32 UNet, else not, so float32 results elsewhere are unchanged.

        Examples:

        Returns:
            [`MMGenPipelineOutput`] or `tuple` `(audios, melodies, scores)`: the audio and, for each output, the melody
            that guided it and (with `num_candidates > 1`) its aligner score.
        """
        if isinstance(callback_on_step_end, (PipelineCallback, MultiPipelineCallbacks)):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        callback_on_step_end_tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]

        # 1. Check inputs; per-call state for callbacks
        self.check_inputs(
            prompt, audio, melody, negative_prompt, audio_length_in_s, num_inference_steps, guidance_scale,
            melody_guidance_scale, num_waveforms_per_prompt, num_candidates, prompt_embeds, melody_embeds,
            output_type, callback_on_step_end_tensor_inputs, negative_prompt_embeds=negative_prompt_embeds,
            melody_from_audio=melody_from_audio, audio_prompt=audio_prompt, window_length_in_s=window_length_in_s,
            window_overlap_in_s=window_overlap_in_s, window_crossfade_in_s=window_crossfade_in_s,
            melody_extension=melody_extension,
        )  # fmt: skip
        # checked above; numpy / torch scalars become plain numbers
        audio_length_in_s, guidance_scale = float(audio_length_in_s), float(guidance_scale)
        num_inference_steps, num_waveforms_per_prompt = int(num_inference_steps), int(num_waveforms_per_prompt)
        num_candidates = int(num_candidates)
        melody_guidance_scale = None if melody_guidance_scale is None else float(melody_guidance_scale)
        self._guidance_scale, self._attention_kwargs, self._interrupt = guidance_scale, attention_kwargs, False
        self._melody_guidance_scale = melody_guidance_scale if self.do_classifier_free_guidance else None
        device = self._execution_device
        if autocast is None:  # bf16 pays only where the CPU has bf16 units; emulated it is slower than float32
            autocast = device.type == "cpu" and self.unet.dtype == torch.float32 and bf16_supported()
        self._autocast_dtype = torch.bfloat16 if autocast else None

        # 2. Encode a continuation's prompt (latents held at the start; the query when nothing else is given), then
        # the query q, the melody r (given, or retrieved with q) and c = MLP([q, r]), stacked for guidance
        window_frames, overlap_frames = self.window_sizes(window_length_in_s, window_overlap_in_s)
        crossfade_frames = self.window_crossfade_frames(overlap_frames, window_crossfade_in_s)
        prompt_latents, prompt_s = None, 0.0
        if audio_prompt is not None:
            prompt_latents, prompt_waveform = self.encode_audio_prompt(audio_prompt, window_frames)
            prompt_s = prompt_latents.shape[2] * self.vae_scale_factor * HOP_LENGTH / SAMPLE_RATE
            if prompt is None and audio is None and prompt_embeds is None and melody is None and melody_embeds is None:
                audio = prompt_waveform
        if melody_from_audio:  # the reference is the query and, transcribed, the melody
            audio = melody = self._load_waveforms(audio)
        condition_embeds, melodies, query_embeds = self.encode_prompt(
            prompt, audio, melody, device, num_waveforms_per_prompt * num_candidates, self.do_classifier_free_guidance,
            negative_prompt, prompt_embeds, melody_embeds, negative_prompt_embeds,
            separate_melody_guidance=self.melody_guidance_scale is not None, audio_length_in_s=audio_length_in_s,
            melody_offset_s=prompt_s, melody_extension=melody_extension,
        )  # fmt: skip

        # 3. Timesteps (each window runs all of them)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps

        # 4. Initial noise of the whole piece with the prompt held at its start, and the windows that make it
        latents, num_frames = self.prepare_latents(
            query_embeds.shape[0], prompt_s + audio_length_in_s, self.unet.dtype, device, generator, latents
        )
        piece = latents.clone()
        if prompt_latents is not None:
            piece[:, :, : prompt_latents.shape[2]] = prompt_latents.to(device=device, dtype=latents.dtype)
        held_frames = 0 if prompt_latents is None else prompt_latents.shape[2]
        windows = plan_windows(latents.shape[2], window_frames, overlap_frames, held=held_frames)
        self._num_timesteps = len(timesteps) * len(windows)
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator)

        # 5. Denoising, window by window, each with its part of every output's frame-aligned melody (sketch)
        frame_s = self.vae_scale_factor * HOP_LENGTH / SAMPLE_RATE
        with self.progress_bar(total=num_inference_steps * len(windows)) as progress_bar:
            for k, window in enumerate(windows):
                melody_latents = None
                if self.uses_melody_sketch:
                    melody_latents = self.prepare_melody_latents(
                        melodies, window.length, device, latents.dtype, start_s=window.start * frame_s
                    )
                    melody_latents[:, :, : max(0, held_frames - window.start)] = 0  # the prompt's melody is unknown
                hold, fade = split_held(window, crossfade_frames)
                held = piece[:, :, window.start : window.start + hold].clone() if hold else None
                made, condition_embeds = self.denoise_window(
                    latents[:, :, window.start : window.stop], held, condition_embeds, melody_latents,
                    num_inference_steps, extra_step_kwargs, progress_bar, k * len(timesteps), callback_on_step_end,
                    callback_on_step_end_tensor_inputs,
                )  # fmt: skip
                crossfade_into(piece.transpose(2, 3), made.transpose(2, 3), window, fade=fade)
        latents = piece

        # 6. Decode (latents -> log-mel -> waveform, window by window) and keep the best of each output's candidates
        mels = waveforms = scores = None
        if output_type != "latent" or num_candidates > 1:
            mels = self.decode_latents(latents, num_frames, window_frames, overlap_frames)
        if output_type in ("np", "pt") or num_candidates > 1:
            num_samples = int(round((prompt_s + audio_length_in_s) * SAMPLE_RATE))
            mel_window, mel_overlap = window_frames * self.vae_scale_factor, overlap_frames * self.vae_scale_factor
            waveforms = limit_peak(self.mel_to_waveform(mels, num_samples, mel_window, mel_overlap))
        if num_candidates > 1:
            keep, scores = self.select_best_candidates(waveforms, query_embeds, num_candidates)
            latents, mels, waveforms = latents[keep.to(latents.device)], mels[keep.to(mels.device)], waveforms[keep]
            melodies, scores = [melodies[k] for k in keep.tolist()], scores.numpy()

        # 7. Post-processing
        if output_type == "latent":
            audios = latents
        elif output_type == "mel":
            audios = mels.cpu().float()
        else:
            audios = waveforms.numpy() if output_type == "np" else waveforms
        self.maybe_free_model_hooks()
        if not return_dict:
            return (audios, melodies, scores)
        return MMGenPipelineOutput(audios=audios, melodies=melodies, scores=scores)


def bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX, as oneDNN detects it at run time); where it
    does not (e.g. AVX2 only), bfloat16 is emulated and slower than float32."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def limit_peak(waveforms: torch.Tensor, peak: float = OUTPUT_PEAK) -> torch.Tensor:
    """Scale each waveform `(batch, samples)` whose absolute peak exceeds `peak` down to it (one gain per clip, so
    nothing is clipped and the dynamics stay); quieter clips are returned unchanged."""
    top = waveforms.abs().amax(dim=-1, keepdim=True)
    return waveforms * torch.where(top > peak, peak / top.clamp_min(1e-12), torch.ones_like(top))


def default_scheduler(beta_schedule: str = "scaled_linear") -> DDIMScheduler:
    """DDIM with the training noise schedule (1000 steps, betas 0.0015-0.0195, epsilon prediction).

    The official (LDM) code's "linear" schedule interpolates the square roots of the betas, which is diffusers'
    `"scaled_linear"`; AudioLDM's diffusers conversion uses it too.
    """
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule=beta_schedule,
        prediction_type="epsilon",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


# The keys of a scheduler config that describe the training noise schedule (what every sampler must share).
TRAINING_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                          "prediction_type")  # fmt: skip
SAMPLERS = ("dpm++", "unipc", "ddim")


def sampler_scheduler(sampler: str = "dpm++", schedule: SchedulerMixin | dict | None = None) -> SchedulerMixin:
    """A sampler over the training noise schedule of `schedule` (a scheduler or its config; `default_scheduler()`'s
    when None).

    `"dpm++"`: DPM-Solver++ 2M with Karras sigmas (diffusers' `DPMSolverMultistepScheduler`); `"unipc"`: UniPC (bh2,
    `UniPCMultistepScheduler`); `"ddim"`: DDIM as the models were trained with (`default_scheduler`). The multistep
    solvers reach DDIM-50 quality in far fewer steps (`benchmarks/results/latency.json`).
    """
    from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler

    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    config = default_scheduler().config if schedule is None else getattr(schedule, "config", schedule)
    training = {k: config[k] for k in TRAINING_SCHEDULE_KEYS if k in config}
    if sampler == "ddim":
        return DDIMScheduler(**training, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    if sampler == "unipc":
        return UniPCMultistepScheduler(**training, solver_order=2, solver_type="bh2")
    return DPMSolverMultistepScheduler(**training, algorithm_type="dpmsolver++", solver_order=2,
                                       use_karras_sigmas=True)  # fmt: skip
