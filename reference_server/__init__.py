"""Reference OpenAI-compatible server on llama.cpp."""
