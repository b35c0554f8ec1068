"""The parts of bench's reference completions server (bench.learners.icl.serve): the OpenAI request and answer
shapes, the model's side of a completion, and the slot processes that run it."""
