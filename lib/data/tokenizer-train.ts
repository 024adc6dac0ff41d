/**
 * Child process of Tokenizer.train(): `tokenizers`' Rust trainer prints progress lines on
 * stdout that the caller cannot silence, so training runs here with stdout discarded.
 * Usage: node tokenizer-train.js <corpus.txt> <out.json>
 */
import tokenizers from 'tokenizers';

const [corpus, out] = process.argv.slice(2);
const trainer = new tokenizers.Tokenizer(tokenizers.BPE.empty());
trainer.setNormalizer(tokenizers.sequenceNormalizer([tokenizers.nfkcNormalizer(), tokenizers.lowercase()]));
// add_prefix_space: a word at the start of a field encodes like the same word inside it.
trainer.setPreTokenizer(tokenizers.byteLevelPreTokenizer(true, true));
trainer.train([corpus]);
trainer.save(out);
