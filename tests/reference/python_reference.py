"""Renders chat templates exactly as transformers' apply_chat_template does
(Jinja2's ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and
loop controls; raise_exception, strftime_now and transformers' tojson): one
JSON case per stdin line, one JSON answer per stdout line."""
import json
import sys
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Refused(Exception):
    pass


def raise_exception(message):
    raise Refused(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

for line in sys.stdin:
    case = json.loads(line)
    try:
        answer = {"output": env.from_string(case["template"]).render(**case["context"])}
    except Refused as refused:
        answer = {"refused": str(refused)}
    except (TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        answer = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(answer), flush=True)
