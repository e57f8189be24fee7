"""Prints the messages of a maildir (what aiosmtpd's Mailbox handler wrote) as a JSON list of
{to, from, subject, body, messageId}, decoded (RFC 2047 headers, base64/quoted-printable)."""

import json
import mailbox
import sys
from email.policy import default

out = []
for key, msg in mailbox.Maildir(sys.argv[1], factory=None, create=False).items():
    parsed = __import__("email").message_from_bytes(msg.as_bytes(), policy=default)
    body = parsed.get_body(preferencelist=("plain", "html"))
    out.append({
        "to": str(parsed["To"] or ""),
        "from": str(parsed["From"] or ""),
        "subject": str(parsed["Subject"] or ""),
        "messageId": str(parsed["Message-ID"] or ""),
        "body": body.get_content().replace("\r\n", "\n") if body is not None else "",
    })
print(json.dumps(out, ensure_ascii=False))
