"""The official `openai` client against platform-server's /v1 (run by tests/openai_client.rs).

Environment: BASE_URL (the server), API_KEY (a token the server accepts), MODEL (a model the
fake upstream behind the server knows). Exits non-zero on any failure, including a missing
`openai` package: CI installs it (`.ci/run`).
"""

import os
import sys

try:
    import openai
    from openai import OpenAI
except ImportError:
    sys.exit("the `openai` package is missing: python3 -m pip install openai")

base, key, model = os.environ["BASE_URL"], os.environ["API_KEY"], os.environ["MODEL"]
client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=20)
messages = [{"role": "user", "content": "Hi"}]

ids = [m.id for m in client.models.list()]
assert model in ids, ids

completion = client.chat.completions.create(
    model=model, messages=messages, temperature=0.1, max_tokens=5
)
assert completion.object == "chat.completion", completion
assert completion.choices[0].message.role == "assistant"
assert completion.choices[0].message.content == "Hello!", completion
assert completion.choices[0].finish_reason == "stop"
assert completion.usage is not None and completion.usage.total_tokens == 8, completion.usage

text, usage, chunks = "", None, 0
for chunk in client.chat.completions.create(
    model=model,
    messages=messages,
    stream=True,
    stream_options={"include_usage": True},
):
    assert chunk.object == "chat.completion.chunk", chunk
    chunks += 1
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage
assert text == "Hello!", text
assert chunks >= 3, chunks
assert usage is not None and usage.total_tokens == 8, usage

try:
    client.chat.completions.create(model="missing", messages=messages)
    raise AssertionError("an unknown model must fail")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e.body

try:
    client.chat.completions.create(model=model, messages=[])
    raise AssertionError("empty messages must fail")
except openai.BadRequestError as e:
    assert e.body["type"] == "invalid_request_error", e.body

try:
    OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key must fail")
except openai.AuthenticationError:
    pass

print(f"openai {openai.__version__}: models, completion, stream and errors ok")
