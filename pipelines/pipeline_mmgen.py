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
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput, logging
from diffusers.utils.torch_utils import randn_tensor
from transformers import PreTrainedModel, PreTrainedTokenizer, SpeechT5HifiGan

from mmgen.audio import HOP_LENGTH, N_MELS, SAMPLE_RATE, AudioError, load_audio, validate_waveform
from mmgen.melody.notes import MelodyError, Note, read_midi
from mmgen.melody.tokenizer import MelodyTokenizer, notes_to_string, string_to_notes
from mmgen.models.aligner import TriModalAligner
from mmgen.models.condition import ConditionProjector, classifier_free_guidance
from mmgen.models.unet import unet_downsample_factor
from mmgen.models.vae import decode_latents
from mmgen.models.vocoder import mel_to_audio
from mmgen.retrieval import MelodyRetriever

# diffusers only loads components whose module has been imported (pipeline_loading_utils): importing the
# component classes here makes `MMGenPipeline.from_pretrained(path)` work in a fresh process.
_COMPONENT_CLASSES = (TriModalAligner, MelodyRetriever, MelodyTokenizer, ConditionProjector)

logger = logging.get_logger(__name__)

MIN_AUDIO_LENGTH_S = 0.5
MAX_AUDIO_LENGTH_S = 300.0
OUTPUT_TYPES = ("np", "pt", "latent", "mel")
MIDI_EXTENSIONS = (".mid", ".midi")

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import soundfile as sf
        >>> import torch
        >>> from mmgen import MMGenPipeline

        >>> pipe = MMGenPipeline.from_pretrained("checkpoints/mmgen-default")
        >>> generator = torch.Generator().manual_seed(0)
        >>> out = pipe("a calm folk melody on solo flute", audio_length_in_s=10.0, num_inference_steps=50,
        ...            generator=generator)
        >>> sf.write("flute.wav", out.audios[0], pipe.sampling_rate)
        >>> out.melodies[0]["id"], out.melodies[0]["caption"]  # the retrieved melody that guided it

        >>> # your own melody (MIDI path, list of Notes, token string or an audio file to transcribe)
        >>> out = pipe("a jazz piano trio", melody="tune.mid", generator=generator)
        >>> # music-to-music: the reference audio's embedding is the query
        >>> out = pipe(audio="reference.wav", num_candidates=3, generator=generator)
        ```
"""


@dataclass
class MMGenPipelineOutput(BaseOutput):
    r"""
    Output of [`MMGenPipeline`].

    Args:
        audios (`np.ndarray` or `torch.Tensor`):
            `output_type="np"`/`"pt"`: waveforms of shape `(batch_size * num_waveforms_per_prompt, samples)` at
            22,050 Hz; `"mel"`: log-mels `(batch, 80, frames)`; `"latent"`: latents `(batch, C, frames / 4, 20)`.
        melodies (`list[dict]`):
            For each output, the melody that guided it: `id`, `caption`, `source` (the retrieved database entry,
            or `"user"` / `"melody_embeds"`), `tokens` (official token string), `notes` (`list[Note]`) and the
            retrieval `score` (cosine; `None` for a user melody). `None` entries for a text-only model.
        scores (`np.ndarray` of shape `(batch,)`, *optional*):
            The aligner score of each output (cosine of its audio embedding and the query), when
            `num_candidates > 1` re-ranked the candidates; else `None`.
    """

    audios: np.ndarray | torch.Tensor
    melodies: list[dict | None]
    scores: np.ndarray | None = None


def melody_to_tokens(melody: Any, name: str = "melody") -> tuple[str, list[Note]]:
    """A user melody -> `(token string, notes)`.

    Args:
        melody: a MIDI path (`.mid`/`.midi`), an audio path or a mono waveform `np.ndarray` at 22,050 Hz (transcribed
            with Basic Pitch), a `list[Note]`, or an official token string (`"<G4>,<114>,<79>|..."`).
    Raises:
        `MelodyError` when the melody has no notes or cannot be parsed; `AudioError` for unreadable audio.
    """
    if isinstance(melody, (list, tuple)):
        if not all(isinstance(n, Note) for n in melody):
            raise MelodyError(f"{name}: a list melody must contain `Note`s only.")
        notes = list(melody)
    elif isinstance(melody, np.ndarray) or isinstance(melody, torch.Tensor):
        from mmgen.melody.transcribe import extract_notes

        notes = extract_notes(np.asarray(melody, dtype=np.float32), name=name)
    elif isinstance(melody, (str, os.PathLike)):
        text = os.fspath(melody)
        if text.lstrip().startswith("<"):
            notes = string_to_notes(text)
        elif text.lower().endswith(MIDI_EXTENSIONS):
            if not os.path.isfile(text):
                raise MelodyError(f"{name}: no such MIDI file '{text}'.")
            notes = read_midi(text)
        elif os.path.isfile(text):
            from mmgen.melody.transcribe import extract_notes

            notes = extract_notes(text, name=name)
        else:
            raise MelodyError(
                f"{name}: '{text[:80]}' is neither a token string, a MIDI file nor an existing audio file."
            )
    else:
        raise MelodyError(
            f"{name}: expected a MIDI/audio path, a list of Notes, a token string or a waveform, "
            f"got {type(melody).__name__}."
        )
    if not notes:
        raise MelodyError(f"{name}: the melody has no notes.")
    return notes_to_string(notes), notes


class MMGenPipeline(DiffusionPipeline):
    r"""
    Pipeline for melody-guided text-to-music and music-to-music generation (MMGen, paper 4.2).

    This model inherits from [`DiffusionPipeline`]. Check the superclass documentation for the generic methods
    implemented for all pipelines (downloading, saving, running on a particular device, etc.).

    Args:
        vae ([`AutoencoderKL`]):
            The mel VAE (`mmgen.models.vae`): log-mel `(B, 1, frames, 80)` <-> latents `(B, 8, frames / 4, 20)`.
        vocoder ([`~transformers.SpeechT5HifiGan`], *optional*):
            HiFi-GAN turning log-mels into 22,050 Hz waveforms (`mmgen.models.vocoder`). None (saved as null in
            `model_index.json`): the packaged HiFi-GAN V1 universal generator, converted on first use, so that a
            pipeline using the unmodified vocoder does not store 53 MB of weights that the package already has.
        unet ([`UNet2DConditionModel`]):
            The denoiser, conditioned through its class embedding (`mmgen.models.unet`).
        scheduler ([`SchedulerMixin`]):
            Any diffusers scheduler; [`DDIMScheduler`] by default, [`DPMSolverMultistepScheduler`] for fewer steps.
        aligner ([`~transformers.PreTrainedModel`]):
            The `TriModalAligner`: `embed_text`, `embed_audio`, `embed_melody` into its joint space.
        condition_projector ([`ConditionProjector`]):
            `c = MLP([q, r])` with the learned nulls of classifier-free guidance.
        melody_tokenizer ([`~transformers.PreTrainedTokenizer`], *optional*):
            The `MelodyTokenizer`, saved with the pipeline so that melody token strings stay decodable.
        retriever ([`~diffusers.ModelMixin`], *optional*):
            The `MelodyRetriever` (melody database). Not needed by a text-only model or when every call passes a
            melody.
        vocoder_method (`str`, *optional*, defaults to `"hybrid"`):
            `mmgen.models.vocoder.mel_to_audio` method: `"hybrid"` (HiFi-GAN + Griffin-Lim: measured best on music,
            `benchmarks/results/vocoder.json`), `"hifigan"` or `"griffinlim"`.
    """

    model_cpu_offload_seq = "aligner->condition_projector->unet->vae->vocoder"
    _optional_components = ["melody_tokenizer", "retriever", "vocoder"]
    _callback_tensor_inputs = ["latents", "condition_embeds"]

    def __init__(
        self,
        vae: AutoencoderKL,
        vocoder: SpeechT5HifiGan | None,
        unet: UNet2DConditionModel,
        scheduler: SchedulerMixin,
        aligner: PreTrainedModel,
        condition_projector: ConditionProjector,
        melody_tokenizer: PreTrainedTokenizer | None = None,
        retriever: Any = None,
        vocoder_method: str = "hybrid",
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
        )
        self.register_to_config(vocoder_method=vocoder_method)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """`DiffusionPipeline.from_pretrained`, loading float32 unless `torch_dtype` says otherwise.

        The shipped default stores its UNet, VAE and condition projector in float16 to keep the repository small;
        on CPU they must run in float32.
        """
        kwargs.setdefault("torch_dtype", torch.float32)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @property
    def sampling_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def uses_melody(self) -> bool:
        return bool(self.condition_projector.config.use_melody)

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
    ):
        if prompt is None and audio is None and melody is None and prompt_embeds is None and melody_embeds is None:
            raise ValueError(
                "Nothing to generate from: pass `prompt` (text-to-music), `audio` (music-to-music), `melody` or "
                "`prompt_embeds`."
            )
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("Pass either `prompt` or `prompt_embeds`, not both.")
        if audio is not None and (prompt is not None or prompt_embeds is not None):
            raise ValueError("Pass either `prompt`/`prompt_embeds` (text-to-music) or `audio` (music-to-music).")
        if melody is not None and melody_embeds is not None:
            raise ValueError("Pass either `melody` or `melody_embeds`, not both.")
        for name, value in (("prompt", prompt), ("negative_prompt", negative_prompt)):
            if value is None:
                continue
            texts = [value] if isinstance(value, str) else value
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise ValueError(f"`{name}` must be a string or a non-empty list of strings, got {type(value)}.")
            if any(not t.strip() for t in texts):
                raise ValueError(f"`{name}` contains an empty string; describe the music to generate.")
        if not isinstance(audio_length_in_s, (int, float)) or not (
            MIN_AUDIO_LENGTH_S <= audio_length_in_s <= MAX_AUDIO_LENGTH_S
        ):
            raise ValueError(
                f"`audio_length_in_s` must be between {MIN_AUDIO_LENGTH_S} and {MAX_AUDIO_LENGTH_S} s, "
                f"got {audio_length_in_s}."
            )
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps}.")
        if guidance_scale < 0:
            raise ValueError(f"`guidance_scale` must be >= 0 (0 disables guidance), got {guidance_scale}.")
        if melody_guidance_scale is not None and not self.uses_melody:
            raise ValueError("`melody_guidance_scale` needs a melody-conditioned model; this one is text-only.")
        if (melody is not None or melody_embeds is not None) and not self.uses_melody:
            raise ValueError("This pipeline's condition projector is text-only (`use_melody=False`): no melody input.")
        counts = (("num_waveforms_per_prompt", num_waveforms_per_prompt), ("num_candidates", num_candidates))
        for name, value in counts:
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value}.")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}.")
        cfg = self.condition_projector.config
        for name, embeds, dim in (("prompt_embeds", prompt_embeds, cfg.query_dim),
                                  ("melody_embeds", melody_embeds, cfg.melody_dim)):  # fmt: skip
            if embeds is not None and (embeds.ndim != 2 or embeds.shape[-1] != dim):
                raise ValueError(
                    f"`{name}` must have shape (batch_size, {dim}) to match the condition projector, "
                    f"got {tuple(embeds.shape)}."
                )
        if callback_on_step_end_tensor_inputs is not None and not all(
            k in self._callback_tensor_inputs for k in callback_on_step_end_tensor_inputs
        ):
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has to be in {self._callback_tensor_inputs}, "
                f"got {callback_on_step_end_tensor_inputs}."
            )

    @staticmethod
    def _as_batch(value, is_item: Callable[[Any], bool]) -> list | None:
        """`value` as a list of per-prompt items (a single item becomes a batch of one)."""
        if value is None:
            return None
        return [value] if is_item(value) else list(value)

    def _load_waveforms(self, audio) -> list[np.ndarray]:
        def is_item(a):
            return isinstance(a, (str, os.PathLike, bytes)) or (
                isinstance(a, (np.ndarray, torch.Tensor)) and a.ndim == 1
            )

        if isinstance(audio, (np.ndarray, torch.Tensor)) and audio.ndim == 2:
            audio = list(audio)
        waveforms = []
        for i, item in enumerate(self._as_batch(audio, is_item)):
            if isinstance(item, (str, os.PathLike, bytes)):
                waveforms.append(load_audio(item, SAMPLE_RATE, allow_silent=False))
            elif isinstance(item, (np.ndarray, torch.Tensor)):
                wave = item.detach().cpu().float().numpy() if isinstance(item, torch.Tensor) else item
                waveforms.append(validate_waveform(wave, SAMPLE_RATE, name=f"audio[{i}]", allow_silent=False))
            else:
                raise AudioError(f"audio[{i}]: expected a path or a mono waveform array, got {type(item).__name__}.")
        return waveforms

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
    ) -> tuple[torch.Tensor | None, list[dict | None]]:
        r"""
        The melody embedding `r` and what it is: a user melody (no retrieval) or the best match of `query` in the
        retriever's database.

        Returns:
            `(r, info)`: `r` of shape `(batch_size, melody_dim)` or `None` for a text-only model, and one dict per
            prompt (`id`, `caption`, `source`, `tokens`, `notes`, `score`).
        """
        if not self.uses_melody:
            return None, [None] * (0 if query is None else query.shape[0])
        if melody_embeds is not None:
            info = [{"id": None, "caption": None, "source": "melody_embeds", "tokens": None, "notes": None,
                     "score": None} for _ in range(melody_embeds.shape[0])]  # fmt: skip
            return melody_embeds.to(device=device, dtype=torch.float32), info
        if melody is not None:
            is_item = lambda m: (  # noqa: E731
                isinstance(m, (str, os.PathLike))
                or (isinstance(m, (np.ndarray, torch.Tensor)) and m.ndim == 1)
                or (isinstance(m, (list, tuple)) and len(m) > 0 and isinstance(m[0], Note))
            )
            melodies = self._as_batch(melody, is_item)
            if not melodies:
                raise MelodyError("`melody` is empty: the melody has no notes.")
            parsed = [melody_to_tokens(m, name=f"melody[{i}]") for i, m in enumerate(melodies)]
            tokens = [t for t, _ in parsed]
            info = [{"id": None, "caption": None, "source": "user", "tokens": t, "notes": n, "score": None}
                    for t, n in parsed]  # fmt: skip
            r = self.aligner.embed_melody(tokens)
            return r.to(device=device, dtype=torch.float32), info
        if self.retriever is None:
            raise ValueError("No `retriever` in this pipeline: pass `melody` or `melody_embeds`, or load a retriever.")
        result = self.retriever.search(query.detach().float().cpu(), k=1)
        r = torch.as_tensor(result.embeddings)[:, 0].to(device=device, dtype=torch.float32)
        info = []
        for i, hits in enumerate(result.metadata):
            meta = dict(hits[0])
            tokens = meta.get("melody")
            try:
                notes = string_to_notes(tokens) if tokens else None
            except MelodyError:
                notes = None
            info.append({"id": meta.get("id"), "caption": meta.get("caption"), "source": meta.get("source"),
                         "tokens": tokens, "notes": notes, "score": float(result.scores[i][0])})  # fmt: skip
        return r, info

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
            null condition (the same input as the dropped training examples) or `negative_condition`.
        """
        projector = self.condition_projector
        dtype = projector.null_query.dtype
        query = query.to(dtype)
        melody = melody.to(dtype) if melody is not None else None
        cond = projector(query, melody)
        if not do_classifier_free_guidance:
            return cond
        batch = query.shape[0]
        uncond = negative_condition if negative_condition is not None else projector.null_condition(batch)
        parts = [uncond]
        if separate_melody_guidance:
            parts.append(projector(query, melody, drop_melody=True))
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
        height = math.ceil(num_frames / self.vae_scale_factor)
        height = math.ceil(height / factor) * factor
        width = N_MELS // self.vae_scale_factor
        if width % factor:
            raise ValueError(
                f"The latent frequency axis ({width}) is not a multiple of the UNet's down-sampling factor ({factor})."
            )
        shape = (batch_size, self.unet.config.in_channels, height, width)
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(f"Got {len(generator)} generators for a batch of {batch_size} waveforms.")
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"`latents` must have shape {shape}, got {tuple(latents.shape)}.")
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma, num_frames

    def prepare_extra_step_kwargs(self, generator, eta: float = 0.0) -> dict:
        params = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs

    def decode_latents(self, latents: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Latents -> natural-log mels of shape `(batch, 80, num_frames)`."""
        return decode_latents(self.vae, latents, num_frames=num_frames)

    def mel_to_waveform(self, log_mel: torch.Tensor, num_samples: int) -> torch.Tensor:
        """Log-mels `(batch, 80, frames)` -> float32 CPU waveforms `(batch, num_samples)`."""
        waveform = mel_to_audio(log_mel, vocoder=self.vocoder, method=self.config.vocoder_method)
        return waveform.cpu().float()[:, :num_samples]

    @torch.no_grad()
    def score_audio(self, waveforms: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Aligner score: cosine of each waveform's audio embedding and its query, shape `(batch,)`."""
        embeds = self.aligner.embed_audio(list(waveforms.numpy())).float().cpu()
        query = torch.nn.functional.normalize(query.float().cpu(), dim=-1)
        return (torch.nn.functional.normalize(embeds, dim=-1) * query).sum(-1)

    # ------------------------------------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        audio: Any = None,
        melody: Any = None,
        negative_prompt: str | list[str] | None = None,
        audio_length_in_s: float = 10.0,
        num_inference_steps: int = 100,
        guidance_scale: float = 3.0,
        melody_guidance_scale: float | None = None,
        num_waveforms_per_prompt: int = 1,
        num_candidates: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        melody_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
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
                A melody to follow instead of a retrieved one: a MIDI path, a `list[Note]`, an official token string,
                or audio (path or waveform) transcribed with Basic Pitch; or a list of these, one per prompt. Without
                `prompt` or `audio`, the melody's own embedding is also the query.
            negative_prompt (`str` or `list[str]`, *optional*):
                Replaces the null condition of the guidance's unconditional branch by this text's condition
                (with its retrieved melody).
            audio_length_in_s (`float`, *optional*, defaults to 10.0):
                Length of the generated audio, between 0.5 and 300 s.
            num_inference_steps (`int`, *optional*, defaults to 100):
                Denoising steps (the paper uses DDIM with 100-200; DPM-Solver++ needs about 20-25).
            guidance_scale (`float`, *optional*, defaults to 3.0):
                The paper's `w`: `eps = (w + 1) * eps(x, t, c) - w * eps(x, t, null)`; 0 disables guidance.
            melody_guidance_scale (`float`, *optional*):
                Weighs the melody against the query (audiocraft's `cfg_coef_beta`, one more UNet pass per step):
                `eps = eps_null + (w + 1) * (eps_q + beta * (eps_qr - eps_q) - eps_null)`; 1 equals the default.
                Meaningful for models trained with a melody-only drop (`condition_projector.config.melody_dropout`).
            num_waveforms_per_prompt (`int`, *optional*, defaults to 1):
                Waveforms returned per prompt.
            num_candidates (`int`, *optional*, defaults to 1):
                Candidates generated per returned waveform; the ones with the best aligner score (cosine of their
                audio embedding and the query) are kept. The official setting is 3.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                Makes generation deterministic (a list: one per generated candidate).
            latents (`torch.Tensor`, *optional*):
                Initial noise of shape `(batch * num_waveforms_per_prompt * num_candidates, C, T, F)`.
            prompt_embeds (`torch.Tensor` of shape `(batch_size, query_dim)`, *optional*):
                A precomputed query `q` (instead of `prompt`/`audio`).
            melody_embeds (`torch.Tensor` of shape `(batch_size, melody_dim)`, *optional*):
                A precomputed melody embedding `r` (skips retrieval).
            output_type (`str`, *optional*, defaults to `"np"`):
                `"np"` or `"pt"` waveforms, `"mel"` log-mels, or `"latent"`.
            return_dict (`bool`, *optional*, defaults to `True`):
                Return an [`MMGenPipelineOutput`] instead of a tuple `(audios, melodies)`.
            callback_on_step_end (`Callable`, *optional*):
                Called after each step as `callback_on_step_end(self, i, t, callback_kwargs)` with the tensors named
                in `callback_on_step_end_tensor_inputs`; may return a dict replacing them.
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*, defaults to `["latents"]`):
                Tensors passed to the callback, from `_callback_tensor_inputs`.

        Examples:

        Returns:
            [`MMGenPipelineOutput`] or `tuple`: the audio and, for each output, the melody that guided it.
        """
        callback_on_step_end_tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        # 1. Check inputs
        self.check_inputs(
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
            callback_on_step_end_tensor_inputs,
        )
        device = self._execution_device
        do_cfg = guidance_scale > 0
        separate_melody_guidance = do_cfg and melody_guidance_scale is not None

        # 2. Encode the query q and the melody r (user melody, or retrieval with q)
        query = self.encode_query(prompt, audio, device, prompt_embeds)
        if query is None and self.uses_melody:
            r, melody_info = self.encode_melody(melody, None, device, melody_embeds)
            query = r  # a melody alone: its own joint-space embedding is the query
        elif query is None:
            raise ValueError("A text-only model needs `prompt`, `audio` or `prompt_embeds`.")
        else:
            r, melody_info = self.encode_melody(melody, query, device, melody_embeds)
        batch_size = query.shape[0]
        if r is not None and r.shape[0] == 1 and batch_size > 1:  # one melody for every prompt
            r, melody_info = r.expand(batch_size, -1), melody_info * batch_size
        if r is not None and r.shape[0] != batch_size:
            raise ValueError(f"Got {r.shape[0]} melodies for {batch_size} prompts; pass one melody per prompt.")
        if self.uses_melody and r.shape[-1] != self.condition_projector.config.melody_dim:
            raise ValueError(
                f"The melody embeddings have dimension {r.shape[-1]}, the condition projector expects "
                f"{self.condition_projector.config.melody_dim}."
            )

        # 3. Condition c = MLP([q, r]) and the guidance's unconditional input
        negative_condition = None
        if do_cfg and negative_prompt is not None:
            negatives = [negative_prompt] * batch_size if isinstance(negative_prompt, str) else negative_prompt
            if len(negatives) != batch_size:
                raise ValueError(f"Got {len(negatives)} negative prompts for {batch_size} prompts.")
            neg_q = self.encode_query(negatives, None, device)
            neg_r, _ = self.encode_melody(None, neg_q, device)
            negative_condition = self.condition_projector(neg_q, neg_r)
        condition = self.encode_condition(query, r, do_cfg, separate_melody_guidance, negative_condition)
        repeats = num_waveforms_per_prompt * num_candidates
        num_branches = condition.shape[0] // batch_size
        condition = condition.repeat_interleave(repeats, dim=0)
        total = batch_size * repeats
        condition_embeds = condition.to(self.unet.dtype)

        # 4. Timesteps
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps

        # 5. Initial latents
        latents, num_frames = self.prepare_latents(
            total, audio_length_in_s, self.unet.dtype, device, generator, latents
        )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator)

        # 6. Denoising loop
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                latent_model_input = torch.cat([latents] * num_branches) if num_branches > 1 else latents
                latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)
                noise_pred = self.unet(
                    latent_model_input,
                    t,
                    encoder_hidden_states=None,
                    class_labels=condition_embeds,
                    return_dict=False,
                )[0]
                if do_cfg:
                    noise_pred = classifier_free_guidance(
                        noise_pred, guidance_scale, melody_guidance_scale if separate_melody_guidance else None
                    )
                latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample

                if callback_on_step_end is not None:
                    callback_kwargs = {}
                    for k in callback_on_step_end_tensor_inputs:
                        callback_kwargs[k] = locals()[k]
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs) or {}
                    latents = callback_outputs.pop("latents", latents)
                    condition_embeds = callback_outputs.pop("condition_embeds", condition_embeds)

                if i == len(timesteps) - 1 or ((i + 1) > num_warmup_steps and (i + 1) % self.scheduler.order == 0):
                    progress_bar.update()

        # 7. Decode: latents -> log-mel -> waveform; keep the best candidates by aligner score
        num_samples = int(round(audio_length_in_s * SAMPLE_RATE))
        mels = waveforms = scores = None
        if output_type != "latent" or num_candidates > 1:
            mels = self.decode_latents(latents, num_frames)
        if output_type in ("np", "pt") or num_candidates > 1:
            waveforms = self.mel_to_waveform(mels, num_samples)
        if num_candidates > 1:
            scores = self.score_audio(waveforms, query.repeat_interleave(repeats, dim=0))
            best = scores.view(batch_size * num_waveforms_per_prompt, num_candidates).argmax(dim=1)
            keep = torch.arange(batch_size * num_waveforms_per_prompt) * num_candidates + best
            latents, mels, waveforms = latents[keep.to(latents.device)], mels[keep.to(mels.device)], waveforms[keep]
            scores = scores[keep].numpy()
        melodies = [melody_info[i] for i in range(batch_size) for _ in range(num_waveforms_per_prompt)]

        # 8. Post-processing
        if output_type == "latent":
            audios = latents
        elif output_type == "mel":
            audios = mels.cpu().float()
        else:
            audios = waveforms.numpy() if output_type == "np" else waveforms
        self.maybe_free_model_hooks()
        if not return_dict:
            return (audios, melodies)
        return MMGenPipelineOutput(audios=audios, melodies=melodies, scores=scores)


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
