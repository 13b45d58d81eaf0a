// The hello example: word statistics and a naive sentiment score for a piece of text.
interface Input {
  text?: string;
}

interface Output {
  words: number;
  characters: number;
  longest_word: string;
  sentiment: 'positive' | 'negative' | 'neutral';
  score: number;
}

export class Model {
  private positive = new Set<string>();
  private negative = new Set<string>();

  async load(): Promise<void> {
    // A real model would read weights here; this one builds its tiny lexicon.
    for (const w of ['good', 'great', 'easy', 'love', 'fast', 'happy', 'excellent', 'smooth'])
      this.positive.add(w);
    for (const w of ['bad', 'slow', 'hard', 'hate', 'broken', 'sad', 'awful', 'dropped'])
      this.negative.add(w);
  }

  predict(input: Input): Output {
    if (typeof input.text !== 'string') throw new Error('expected {"text": "..."}');
    const words = input.text.toLowerCase().match(/[a-z']+/g) ?? [];
    let score = 0;
    for (const w of words) score += this.positive.has(w) ? 1 : this.negative.has(w) ? -1 : 0;
    return {
      words: words.length,
      characters: input.text.length,
      longest_word: words.reduce((a, b) => (b.length > a.length ? b : a), ''),
      sentiment: score > 0 ? 'positive' : score < 0 ? 'negative' : 'neutral',
      score,
    };
  }
}
