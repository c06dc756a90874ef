#!/usr/bin/python3
"""Sends one file's HL7 v2 messages to Sidep with Debian's python3-hl7 client (mllp_send --loose, one answer awaited
per message), then reads every answer with that package's own parser. Prints a JSON summary for the test to check:
the control id (MSH-10) of each message sent, and for each answer its MSA-1, MSA-2, or why it could not be parsed."""
import io
import json
import subprocess
import sys

import hl7
from hl7.client import read_loose

path, port = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    data = f.read()

sent = []
for message in read_loose(io.BytesIO(data)):
    first = message.split(b"\r")[0]
    fields = first.split(first[3:4])
    sent.append(fields[9].decode("latin-1") if len(fields) > 9 else "")

run = subprocess.run(["mllp_send", "--loose", "-f", path, "-p", port, "127.0.0.1"], capture_output=True, timeout=120)
answers = []
for frame in run.stdout.split(b"\x0b")[1:]:
    text = frame.split(b"\x1c")[0].decode("utf-8")
    try:
        msa = hl7.parse(text).segment("MSA")
        answers.append({"code": str(msa[1]), "control": str(msa[2])})
    except Exception as error:  # the test fails on it, saying why
        answers.append({"error": f"{type(error).__name__}: {error}", "text": text[:200]})

print(json.dumps({"exit": run.returncode, "stderr": run.stderr.decode("utf-8", "replace")[-800:], "sent": sent, "answers": answers}))
