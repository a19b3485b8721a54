/**
 * Hold music generated on the spot: a slow arpeggio of soft sine tones (C major, A minor, F major, G major),
 * each note with a gentle attack and decay so the loop has no clicks. 8 s, 8 kHz mono PCM16.
 * The same array is returned each time (so the engine encodes it once per codec): do not modify it.
 */

const RATE = 8000;
const NOTE_SECONDS = 0.4;
const AMPLITUDE = 0.18 * 32767;

// MIDI note numbers: four chords, each rising then falling back.
const MELODY = [60, 64, 67, 72, 67, 57, 60, 64, 69, 64, 53, 57, 60, 65, 60, 55, 59, 62, 67, 62];

let cached: Int16Array | null = null;

export function holdMusic(): Int16Array {
  cached ??= render();
  return cached;
}

function render(): Int16Array {
  const noteLength = Math.round(NOTE_SECONDS * RATE);
  const out = new Int16Array(noteLength * MELODY.length);
  MELODY.forEach((note, index) => {
    const frequency = 440 * 2 ** ((note - 69) / 12);
    for (let i = 0; i < noteLength; i++) {
      const t = i / RATE;
      const attack = Math.min(1, t / 0.02);
      const decay = Math.exp(-3 * t) * Math.min(1, (noteLength - i) / (0.03 * RATE));
      // A touch of the octave makes it sound less like a test tone.
      const tone = Math.sin(2 * Math.PI * frequency * t) + 0.25 * Math.sin(4 * Math.PI * frequency * t);
      out[index * noteLength + i] = Math.round(AMPLITUDE * attack * decay * tone);
    }
  });
  return out;
}
