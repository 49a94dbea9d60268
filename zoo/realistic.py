"""Example inputs that look like each pretrained model's real data, synthesized deterministically (seeded):
face crops, voiced speech, a plucked-string melody and the bytes of real files. Nothing is downloaded.

- faces: a skin-toned head ellipse with hair, eyes (sclera + iris), brows, nose shading and a mouth over a smooth
  background, with random pose (offset, scale, roll), skin tone, lighting direction and sensor noise; drawn at 4x
  and box-filtered down, as a camera's optics would anti-alias it.
- speech: a glottal source (harmonics of f0 falling 12 dB/octave, with vibrato and jitter) through a cascade of
  formant resonators of a vowel (/a/ /e/ /i/ /o/ /u/), plus breath noise: what a pitch tracker or a speech-quality
  model hears from a sustained vowel.
- music: Karplus-Strong plucked strings playing a random melody in a major or minor key.
- files: the leading/trailing bytes (as magika's own feature extractor takes them) of real text and binary files
  that ship in the installed Python distribution and its packages.
"""
from __future__ import annotations

import numpy as np

SUPERSAMPLE = 4


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- faces ------------------------------------------------------------------------------------------------------
SKIN_TONES = np.array([[255, 224, 196], [234, 192, 134], [224, 172, 105], [198, 134, 66], [141, 85, 36],
                       [92, 58, 36]], np.float32) / 255.0
HAIR_COLORS = np.array([[20, 15, 10], [60, 40, 25], [110, 75, 40], [200, 170, 110], [130, 130, 130]],
                       np.float32) / 255.0


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _face(size: int, rng: np.random.Generator) -> np.ndarray:
    """One [size, size, 3] face crop in [0, 1], framed the way MTCNN frames a detection (face fills the crop)."""
    hi = size * SUPERSAMPLE
    v, u = (np.mgrid[0:hi, 0:hi] + 0.5) / hi
    # background: a smooth colour gradient
    base, slope = rng.uniform(0.1, 0.9, 3), rng.uniform(-0.3, 0.3, (2, 3))
    img = np.clip(base + u[..., None] * slope[0] + v[..., None] * slope[1], 0, 1).astype(np.float32)
    # pose: centre offset, scale, in-plane roll
    s = rng.uniform(0.85, 1.1)
    cx, cy = 0.5 + rng.uniform(-0.05, 0.05), 0.52 + rng.uniform(-0.05, 0.05)
    roll = np.deg2rad(rng.uniform(-12, 12))
    x = cx + (u - cx) * np.cos(roll) + (v - cy) * np.sin(roll)
    y = cy - (u - cx) * np.sin(roll) + (v - cy) * np.cos(roll)
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05, 3)
    hair = HAIR_COLORS[rng.integers(len(HAIR_COLORS))]
    img[_ellipse(x, y, cx, cy - 0.1 * s, 0.42 * s, 0.45 * s)] = hair
    head = _ellipse(x, y, cx, cy, 0.34 * s, 0.44 * s)
    img[head] = skin
    img[_ellipse(x, y, cx, cy + 0.02 * s, 0.07 * s, 0.16 * s) & head] = skin * 0.85  # nose ridge shade
    for side in (-1, 1):
        ex, ey = cx + side * 0.14 * s, cy - 0.08 * s
        img[_ellipse(x, y, ex, ey - 0.08 * s, 0.09 * s, 0.022 * s)] = hair * 0.8  # brow
        img[_ellipse(x, y, ex, ey, 0.075 * s, 0.035 * s)] = (0.95, 0.95, 0.92)  # sclera
        img[_ellipse(x, y, ex + rng.uniform(-0.015, 0.015), ey, 0.032 * s, 0.032 * s)] = rng.uniform(0.05, 0.35, 3)
        img[_ellipse(x, y, cx + side * 0.04 * s, cy + 0.15 * s, 0.025 * s, 0.015 * s)] = skin * 0.45  # nostril
    img[_ellipse(x, y, cx, cy + 0.26 * s, 0.12 * s, 0.035 * s)] = skin * np.array([0.75, 0.4, 0.4])  # lips
    # lighting from a random side, then down-sampling (anti-aliasing) and sensor noise
    light = np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)]) * rng.uniform(0.0, 0.35)
    img = img * (1.0 + light[0] * (u - 0.5) + light[1] * (v - 0.5))[..., None] * rng.uniform(0.7, 1.15)
    img = img.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(img + rng.normal(0.0, 0.015, img.shape), 0.0, 1.0)


def face_crops(n: int, size: int, seed: int) -> np.ndarray:
    """[n, size, size, 3] synthesized face crops in [0, 1] (RGB, NHWC)."""
    rng = _rng(seed)
    return np.stack([_face(size, rng) for _ in range(n)]).astype(np.float32)


def mtcnn_normalize(pixels01: np.ndarray) -> np.ndarray:
    """MTCNN's input scaling: (8-bit pixel - 127.5) / 128."""
    return ((np.round(pixels01 * 255.0) - 127.5) * 0.0078125).astype(np.float32)


def nchw(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


# --- speech ------------------------------------------------------------------------------------------------------
VOWEL_FORMANTS = {  # (F1, F2, F3) Hz, adult averages (Peterson & Barney)
    "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010), "o": (570, 840, 2410),
    "u": (300, 870, 2240)}
FORMANT_BANDWIDTHS = (80.0, 100.0, 140.0)


def _resonate(signal: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """A two-pole formant resonator with unit gain at DC (Klatt's)."""
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bandwidth / rate)
    a1, a2 = -2 * r * np.cos(2 * np.pi * freq / rate), r * r
    return lfilter([1.0 + a1 + a2], [1.0, a1, a2], signal)


def vowel(seconds: float, rate: int, f0: float, vowel_name: str, rng: np.random.Generator) -> np.ndarray:
    """A sustained vowel at fundamental f0 Hz, peak-normalized to a random level in [0.2, 0.8]."""
    t = np.arange(int(seconds * rate)) / rate
    vibrato = 1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 6) * t) + 0.002 * rng.normal(size=t.size).cumsum() / \
        np.sqrt(t.size)
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / rate
    harmonics = np.arange(1, int(rate / 2 / f0))
    source = (np.sin(np.outer(phase, harmonics)) / harmonics ** 2).sum(axis=1)
    out = source + 0.01 * rng.normal(size=t.size)  # breath
    for freq, bw in zip(VOWEL_FORMANTS[vowel_name], FORMANT_BANDWIDTHS):
        out = _resonate(out, freq * rng.uniform(0.92, 1.08), bw, rate)
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.03)  # 30 ms attack and release
    out = out * envelope
    return (out / np.abs(out).max() * rng.uniform(0.2, 0.8)).astype(np.float32)


def pitch_frames(n: int, seed: int, frame: int = 1024, rate: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """[n, frame] windows of sustained vowels at 16 kHz, each normalized to zero mean and unit variance as
    torchcrepe.preprocess does, and the f0 (Hz) of each: f0 uniform in log space over 65-800 Hz (bass voice to
    soprano)."""
    rng = _rng(seed)
    frames, f0s = [], []
    for _ in range(n):
        f0 = float(np.exp(rng.uniform(np.log(65.0), np.log(800.0))))
        audio = vowel(0.2, rate, f0, str(rng.choice(list(VOWEL_FORMANTS))), rng)
        start = int(rng.integers(rate // 40, audio.size - frame - rate // 40))
        window = audio[start:start + frame].astype(np.float64)
        frames.append((window - window.mean()) / max(window.std(), 1e-10))
        f0s.append(f0)
    return np.stack(frames).astype(np.float32), np.array(f0s, np.float32)


# --- music -------------------------------------------------------------------------------------------------------
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


def _pluck(freq: float, samples: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: a noise burst in a delay line of one period, low-pass averaged each round trip."""
    period = max(2, int(round(rate / freq)))
    line = rng.uniform(-1.0, 1.0, period)
    out = np.empty(samples)
    decay = rng.uniform(0.994, 0.999)
    for start in range(0, samples, period):
        chunk = min(period, samples - start)
        out[start:start + chunk] = line[:chunk]
        line = decay * 0.5 * (line + np.roll(line, -1))
    return out


def melody(n: int, samples: int, rate: int, seed: int) -> np.ndarray:
    """[n, samples] mono clips of a plucked-string melody (random key, mode, tempo and notes), peak 0.1-0.9."""
    rng = _rng(seed)
    clips = np.zeros((n, samples), np.float32)
    for i in range(n):
        root, scale = int(rng.integers(40, 64)), MAJOR if rng.random() < 0.5 else MINOR
        note_len = int(rate * 60.0 / rng.uniform(80, 180))
        clip = np.zeros(samples + note_len * 4)
        for start in range(0, samples, note_len):
            degree = int(rng.integers(0, 15))
            midi = root + 12 * (degree // 7) + scale[degree % 7]
            clip[start:start + 4 * note_len] += _pluck(440.0 * 2 ** ((midi - 69) / 12), 4 * note_len, rate, rng)
        clip = clip[:samples]
        clips[i] = clip / max(np.abs(clip).max(), 1e-9) * rng.uniform(0.1, 0.9)
    return clips


# --- file bytes --------------------------------------------------------------------------------------------------
FILE_SUFFIXES = (".py", ".json", ".txt", ".md", ".html", ".css", ".js", ".c", ".h", ".xml", ".csv", ".cfg",
                 ".toml", ".png", ".so", ".gz", ".zip", ".pyc", ".svg", ".ini", ".sh", ".yaml", ".rst", ".pem")


def shipped_files(n: int, seed: int) -> list:
    """n files of varied types from the installed Python distribution and its site-packages (real content, the
    same for the same lock), picked per suffix round-robin with a seeded shuffle."""
    import sys
    import sysconfig
    from pathlib import Path

    roots = sorted({Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"]),
                    Path(sys.base_prefix) / "include"})
    by_suffix: dict[str, list[Path]] = {s: [] for s in FILE_SUFFIXES}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in by_suffix and len(by_suffix[path.suffix]) < 400 and path.is_file() \
                    and path.stat().st_size >= 64:
                by_suffix[path.suffix].append(path)
    rng = _rng(seed)
    pools = [rng.permutation(np.array(paths, dtype=object)).tolist() for paths in by_suffix.values() if paths]
    picked = []
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    return picked


def speech_clips(n: int, seconds: float, rate: int, seed: int) -> np.ndarray:
    """[n, samples] utterance-like clips: voiced syllables (vowels at a falling intonation contour, 100-300 ms)
    separated by fricative bursts (high-passed noise) and pauses, over room noise at a random 5-40 dB SNR."""
    from scipy.signal import butter, lfilter

    rng = _rng(seed)
    samples = int(seconds * rate)
    hiss_b, hiss_a = butter(4, 3000 / (rate / 2), "high")
    clips = np.zeros((n, samples), np.float32)
    for i in range(n):
        clip, pos = np.zeros(samples), int(rng.integers(0, rate // 4))
        f0_start = float(np.exp(rng.uniform(np.log(90.0), np.log(260.0))))
        while pos < samples - rate // 10:
            f0 = f0_start * (1.0 - 0.25 * pos / samples) * rng.uniform(0.9, 1.1)
            syllable = vowel(rng.uniform(0.1, 0.3), rate, f0, str(rng.choice(list(VOWEL_FORMANTS))), rng)
            if rng.random() < 0.4:  # a fricative consonant before the vowel
                hiss = lfilter(hiss_b, hiss_a, rng.normal(size=int(rate * rng.uniform(0.04, 0.1))))
                syllable = np.concatenate([0.3 * hiss / np.abs(hiss).max() * np.abs(syllable).max(), syllable])
            end = min(samples, pos + syllable.size)
            clip[pos:end] += syllable[:end - pos]
            pos = end + int(rate * (rng.uniform(0.02, 0.08) if rng.random() < 0.8 else rng.uniform(0.2, 0.5)))
        noise = rng.normal(size=samples)
        snr_db = rng.uniform(5.0, 40.0)
        noise *= np.sqrt((clip ** 2).mean() / (noise ** 2).mean() / 10 ** (snr_db / 10))
        clips[i] = clip + noise
    return clips


def file_features(n: int, seed: int) -> np.ndarray:
    """[n, 2048] int32: magika's model input for real files (shipped_files), made by magika's own extractor with
    its model's config (first 1024 bytes after lstrip, last 1024 before rstrip, padded with 256)."""
    import json

    from magika import Magika
    from magika.types.seekable import Seekable

    from rosetta.zoo.pretrained import package_file

    config = json.loads(package_file("magika", "models/standard_v3_3/config.min.json").read_text())
    rows = []
    for path in shipped_files(n, seed):
        with open(path, "rb") as f:
            features = Magika._extract_features_from_seekable(
                Seekable(f), config["beg_size"], config["mid_size"], config["end_size"], config["padding_token"],
                config["block_size"], config["use_inputs_at_offsets"])
        rows.append(features.beg[:config["beg_size"]] + features.end[-config["end_size"]:])
    return np.array(rows, np.int32)


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Hz -> mel on the Slaney scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, hz / (200.0 / 3))


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, n_fft//2+1] Slaney-normalized triangular filters (what librosa.filters.mel returns by default)."""
    bins_hz = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(rate / 2), n_mels + 2))
    lower = (bins_hz[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    upper = (edges[2:, None] - bins_hz[None, :]) / np.diff(edges)[1:, None]
    return np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mel_power(audio: np.ndarray, rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """[frames, n_mels] mel power spectrogram as librosa.feature.melspectrogram computes it (centred frames,
    zero padding, periodic Hann window, |STFT|^2 through the Slaney filterbank)."""
    padded = np.pad(audio.astype(np.float64), n_fft // 2)
    count = 1 + (padded.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ mel_filterbank(rate, n_fft, n_mels).T).astype(np.float32)


def voice_mels(n: int, seed: int, frames: int = 160, rate: int = 16000) -> np.ndarray:
    """[n, 160, 40] partial-utterance mel spectrograms as Resemblyzer's VoiceEncoder takes them: speech_clips
    normalized to -30 dBFS (its preprocess_wav), 25 ms windows every 10 ms, 40 mel bands."""
    seconds = (frames - 1) * 0.01
    clips = speech_clips(n, seconds, rate, seed)
    out = np.empty((n, frames, 40), np.float32)
    for i, clip in enumerate(clips):
        clip = clip * (10 ** (-30 / 20) / np.sqrt((clip ** 2).mean()))
        out[i] = mel_power(clip, rate, 400, 160, 40)[:frames]
    return out
