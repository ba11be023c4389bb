"""The docs stand on their own: every command of docs/design.md runs, and no file of the
repository refers to a document outside it."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _console_commands(md: Path) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", md.read_text(), flags=re.S)
    return [line[2:] for b in blocks for line in b.splitlines() if line.startswith("$ ")]


def test_every_command_of_the_design_page_runs(tmp_path):
    cmds = _console_commands(ROOT / "docs" / "design.md")
    assert len(cmds) >= 5
    for cmd in cmds:
        cmd = cmd.replace("runs/design", str(tmp_path)).replace(".venv/bin/dcsim", f"{sys.executable} -m dcsim")
        r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, f"{cmd}\n{r.stderr[-2000:]}"


def test_no_file_refers_to_a_document_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    outside = re.compile(r"DESIGN\.md|(\.\./|/work/)[\w./-]*\.md")   # a document, not a data folder
    hits = [f for f in tracked if (ROOT / f).is_file() and f != "tests/test_docs.py"
            and outside.search((ROOT / f).read_text(errors="replace"))]
    assert not hits, f"these files refer outside the repository: {hits}"
