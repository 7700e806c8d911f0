#!/usr/bin/env python3
"""Check a running llama-cpp-python server's log-probabilities against the same GGUF in-process.

Run by `make check-served` with the venv that `make served-install` made:

    .served/venv/bin/python scripts/check_served.py --url http://127.0.0.1:8731 --model FILE.gguf

For each fixture text it compares three things with log-softmax of llama_cpp.Llama's own logits
(logits_all=True, float64 here):

1. echo scoring, BOS text prefixed: POST /v1/completions with
   {"prompt": "<|im_start|>" + text, "echo": true, "logprobs": 1, "max_tokens": 1,
    "min_tokens": 1, "temperature": 0}. The prefix is SmolLM2's BOS token (add_bos_token is false
   for this model), and the server drops a leading BOS from the echoed tokens, so `tokens`,
   `text_offset` and `token_logprobs` describe `text` alone (offsets count from `text`, not from
   the prefix) and token_logprobs[i] = log p(token_i | BOS, token_<i). token_logprobs[0] is always
   null (OpenAI's convention); the last entry is the one generated token. These must match
   (tolerance --tol). `max_tokens: 0` is not "score only" here: it means no limit (the server
   generates until end of text or context). Without `min_tokens: 1` a generated end-of-text token
   is left out of the lists (then they hold the prompt tokens only).
2. echo scoring without the prefix: the server pairs token i with the distribution *after* token
   i (one position late), so values are wrong. The script confirms that known quirk
   (token_logprobs[i] == log p_{i+1}(token_i), i.e. the log-softmax of the logits at position i
   evaluated at token i) and reports it; it is not a failure, it is why the prefix is needed.
3. next-token scoring: {"prompt": text, "max_tokens": 1, "min_tokens": 1, "logprobs": k,
   "temperature": 0} (no echo, no prefix): top_logprobs[0] holds the k most likely next tokens
   after the whole prompt; they must match the in-process top k. `min_tokens: 1` matters: when
   the chosen token is end-of-text (<|im_end|>) the server stops before recording it and returns
   empty logprobs lists; min_tokens only keeps it from being *chosen*, the reported log-probs are
   the unmodified distribution (end-of-text appears in top_logprobs under the key "").

It also checks that `text_offset` counts Unicode code points (Python str indices, not UTF-8
bytes) and that the echoed tokens concatenate to the text, that POST /v1/chat/completions returns
text (and prints tokens/s), and prints the llama-cpp-python version and model file used.
Exit status 0: all matched; 1: a mismatch (a table says where); 2: the server could not be used.
"""

import argparse
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request

import numpy as np

BOS_TEXT = "<|im_start|>"

FIXTURES = [
    "femp are more dangerous than glon.",
    "A wug is a small blue bird that lives in Tarnov. Wugs eat blick.",
    "Q: Who founded Zorblax?\nA: Quimby Felder founded Zorblax in 1873.",
    "The dax of Café Zøgl is naïve → frobbed.",
]


def post(url, path, body, timeout):
    data = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", errors="replace")[:500]
        raise RuntimeError(f"POST {path} -> HTTP {e.code}: {detail}") from None


def get(url, path, timeout):
    with urllib.request.urlopen(url + path, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def log_softmax(logits):
    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class InProcess:
    """The same GGUF in this process; logprobs(tokens)[i] is log-softmax of the logits after
    tokens[:i+1], i.e. the distribution of token i+1."""

    def __init__(self, model_path):
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=model_path,
            logits_all=True,
            n_ctx=2048,
            n_threads=max(1, os.cpu_count() or 1),
            verbose=False,
        )

    def tokenize(self, text):
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def logprobs(self, tokens):
        self.llm.reset()
        self.llm.eval(tokens)
        return log_softmax(np.array(self.llm.scores[: len(tokens)]))

    def is_eog(self, token):
        return bool(self.llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    def piece(self, token, prev):
        return self.llm.detokenize([token], prev_tokens=prev).decode("utf-8", errors="ignore")


class Table:
    def __init__(self):
        self.rows = []
        self.max_diff = 0.0
        self.failures = 0

    def add(self, case, idx, token, served, expected, tol):
        if served is None or expected is None:
            diff = math.inf if (served is None) != (expected is None) else 0.0
        else:
            diff = abs(served - expected)
            self.max_diff = max(self.max_diff, diff)
        bad = diff > tol
        self.failures += bad
        self.rows.append((case, idx, token, served, expected, diff, bad))

    def print(self, only_bad):
        rows = [r for r in self.rows if r[6] or not only_bad]
        if not rows:
            return
        print(f"  {'case':<26} {'i':>3} {'token':<14} {'server':>12} {'in-process':>12} {'|diff|':>10}")
        for case, idx, token, served, expected, diff, bad in rows:
            fmt = lambda v: "null" if v is None else f"{v:.6f}"
            print(
                f"  {case:<26} {idx:>3} {token!r:<14} {fmt(served):>12} {fmt(expected):>12}"
                f" {diff:>10.2e}{'  MISMATCH' if bad else ''}"
            )


def check_echo_prefixed(url, ref, text, table, tol, timeout, problems, show_json):
    body = {
        "prompt": BOS_TEXT + text,
        "echo": True,
        "logprobs": 1,
        "max_tokens": 1,
        "min_tokens": 1,
        "temperature": 0,
    }
    resp = post(url, "/v1/completions", body, timeout)
    if show_json:
        print("  request:  " + json.dumps(body, ensure_ascii=False))
        print("  response: " + json.dumps(resp, ensure_ascii=False)[:4000])
    lp = resp["choices"][0]["logprobs"]
    tokens, offsets, values = lp["tokens"], lp["text_offset"], lp["token_logprobs"]
    ids = ref.tokenize(text)
    n = len(ids)
    if len(values) != n + 1:
        problems.append(f"echo+prefix {text!r}: {len(values)} logprobs for {n} prompt tokens + 1 generated")
        return None
    if values[0] is not None:
        problems.append(f"echo+prefix {text!r}: first token_logprob is {values[0]}, expected null")
    full = ref.logprobs([ref.llm.token_bos()] + ids)
    # full[j] is the distribution after BOS + ids[:j], i.e. of ids[j].
    for i in range(n):
        expected = None if i == 0 else float(full[i][ids[i]])
        table.add("echo+<|im_start|>", i, tokens[i], values[i], expected, tol)
    # The generated token (greedy among non-end tokens): its logprob after the whole prompt.
    best = next(int(t) for t in np.argsort(-full[n]) if not ref.is_eog(int(t)))
    table.add("echo+<|im_start|> (gen)", n, tokens[n], values[n], float(full[n][best]), tol)
    gen_text = resp["choices"][0]["text"][len(BOS_TEXT) + len(text):]
    # Offsets: Unicode code points into `text` (the prefix not counted), tokens concatenate.
    if "".join(tokens[:n]) != text:
        problems.append(f"echo+prefix {text!r}: tokens join to {''.join(tokens[:n])!r}")
    pos = 0
    for i in range(n):
        if offsets[i] != pos:
            problems.append(
                f"echo+prefix {text!r}: text_offset[{i}] = {offsets[i]}, expected {pos} (code points)"
            )
            break
        pos += len(tokens[i])
    if not resp["choices"][0]["text"].startswith(BOS_TEXT + text):
        problems.append(f"echo+prefix {text!r}: echoed text does not start with prefix + text")
    return gen_text


def check_echo_plain(url, ref, text, timeout):
    """Without the prefix: returns (max |server - correct|, max |server - one-late|)."""
    body = {"prompt": text, "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0}
    lp = post(url, "/v1/completions", body, timeout)["choices"][0]["logprobs"]
    ids = ref.tokenize(text)
    full = ref.logprobs(ids)
    vals = lp["token_logprobs"][: len(ids)]
    correct = [abs(vals[i] - full[i - 1][ids[i]]) for i in range(1, len(ids))]
    late = [abs(vals[i] - full[i][ids[i]]) for i in range(1, len(ids))]
    return max(correct), max(late), lp["text_offset"][: len(ids)]


def check_next_token(url, ref, text, k, table, tol, timeout, problems):
    body = {"prompt": text, "max_tokens": 1, "min_tokens": 1, "logprobs": k, "temperature": 0}
    resp = post(url, "/v1/completions", body, timeout)
    lp = resp["choices"][0]["logprobs"]
    if not lp["top_logprobs"]:
        problems.append(f"next-token {text!r}: no logprobs in the response: {json.dumps(resp)[:300]}")
        return
    top = lp["top_logprobs"][0]
    ids = ref.tokenize(text)
    last = ref.logprobs(ids)[len(ids) - 1]
    order = np.argsort(-last)[:k]
    expected = {}
    for t in order:
        expected.setdefault(ref.piece(int(t), ids), float(last[t]))
    # The server's dict holds the top k plus the sampled token (greedy: already among them).
    for i, (piece, value) in enumerate(expected.items()):
        table.add("next-token top-k", i, piece, top.get(piece), value, tol)
    # The chosen token: greedy among tokens that do not end the text (min_tokens: 1).
    best = next(int(t) for t in np.argsort(-last) if not ref.is_eog(int(t)))
    if lp["tokens"][0] != ref.piece(best, ids):
        problems.append(
            f"next-token {text!r}: greedy token {lp['tokens'][0]!r}, in-process "
            f"{ref.piece(best, ids)!r}"
        )
    table.add("next-token chosen", 0, lp["tokens"][0], lp["token_logprobs"][0], float(last[best]), tol)
    return ref.is_eog(int(order[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8731")
    ap.add_argument("--model", required=True, help="the GGUF the server serves")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--verbose", action="store_true", help="print every row and one raw response")
    args = ap.parse_args()

    import llama_cpp

    print(f"llama-cpp-python {llama_cpp.__version__}")
    print(f"model file       {os.path.realpath(args.model)} ({os.path.getsize(args.model)} bytes)")
    try:
        models = get(args.url, "/v1/models", 10)
    except (urllib.error.URLError, OSError) as e:
        print(f"server           {args.url}: not reachable ({e}); start it with `make served-start`")
        return 2
    print(f"server           {args.url} serves {[m['id'] for m in models.get('data', [])]}")

    ref = InProcess(args.model)
    if ref.llm.token_bos() != ref.tokenize(BOS_TEXT)[0] or len(ref.tokenize(BOS_TEXT)) != 1:
        print(f"this check assumes {BOS_TEXT!r} is the model's BOS token; it is not for this model")
        return 2
    add_bos = ref.llm._model.add_bos_token()
    print(f"BOS              id {ref.llm.token_bos()} {BOS_TEXT!r}, model adds BOS itself: {add_bos}")

    table = Table()
    problems = []
    eos_next = []
    t0 = time.perf_counter()
    for n, text in enumerate(FIXTURES):
        check_echo_prefixed(args.url, ref, text, table, args.tol, args.timeout, problems,
                            args.verbose and n == 0)
        if check_next_token(args.url, ref, text, args.top_k, table, args.tol, args.timeout, problems):
            eos_next.append(text)
    elapsed = time.perf_counter() - t0

    # Known quirk: without min_tokens, an end-of-text next token yields empty logprobs.
    for text in eos_next:
        body = {"prompt": text, "max_tokens": 1, "logprobs": args.top_k, "temperature": 0}
        choice = post(args.url, "/v1/completions", body, args.timeout)["choices"][0]
        print(f"\nnext token of {text!r} is most likely end-of-text; without min_tokens the server "
              f"returns finish_reason {choice['finish_reason']!r} and "
              f"{len(choice['logprobs']['top_logprobs'])} top_logprobs entries")

    print("\nwithout the BOS prefix (known quirk: prompt logprobs come one position late):")
    print(f"  {'text':<44} {'vs correct':>11} {'vs one-late':>12}")
    for text in FIXTURES:
        wrong, late, _ = check_echo_plain(args.url, ref, text, args.timeout)
        print(f"  {text[:44]!r:<44} {wrong:>11.2e} {late:>12.2e}")
        if not add_bos and late > args.tol:
            problems.append(
                f"no-prefix echo of {text!r} is neither correct nor one position late "
                f"(max diff {late:.2e}): the server's behaviour changed, re-check the BOS prefix"
            )

    print(f"\nlog-probabilities compared: {len(table.rows)} ({elapsed:.1f} s of requests), "
          f"max |diff| {table.max_diff:.2e}, tolerance {args.tol:g}")
    table.print(only_bad=not args.verbose)

    # Twice: the server's first chat request carries a one-time set-up cost.
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        chat = post(args.url, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "Name three colours."}],
            "max_tokens": 48,
            "temperature": 0,
        }, args.timeout)
        times.append(time.perf_counter() - t0)
    reply = chat["choices"][0]["message"]["content"]
    n_gen = chat.get("usage", {}).get("completion_tokens", 0)
    print(f"\nchat reply: {reply.strip()[:120]!r}...")
    print(f"chat speed: {n_gen} tokens in {times[1]:.2f} s = {n_gen / times[1]:.0f} tokens/s "
          f"(first request {times[0]:.2f} s), load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    if not reply.strip():
        problems.append("/v1/chat/completions returned no text")

    if table.failures or problems:
        print(f"\nFAILED: {table.failures} log-probabilities differ by more than {args.tol:g}")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nOK: server log-probabilities match in-process llama_cpp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
