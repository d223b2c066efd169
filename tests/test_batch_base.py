"""BatchScheduler's own behaviour, through a tiny scheduler whose commands are shell scripts.

Nothing is mocked: ``Tiny`` declares its commands as small bash scripts written to the
test's directory, the base runs them through ``run_command``, and the tests count the calls
with :func:`qcsc_prefect.shell.observe_commands`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import (
    CancelError,
    CommandTimeoutError,
    ConfigurationError,
    ExecutionProfile,
    JobSpec,
    JobState,
    JobStatus,
    SchedulerCommandError,
    SchedulerInfo,
    SubmitError,
)
from qcsc_prefect.batch import BatchOptions, BatchScheduler
from qcsc_prefect.directives import DirectiveSyntax
from qcsc_prefect.shell import CommandCall, CommandResult, observe_commands
from qcsc_prefect.templating import launch_command
from qcsc_prefect.validation import PathRule


class TinyOptions(BatchOptions):
    """Directives of the tiny scheduler are ``--name=value``."""

    @classmethod
    def check_directive(cls, raw: str) -> str:
        value = super().check_directive(raw)
        if not re.fullmatch(r"--\w+=\S+", value):
            raise ValueError(f"{raw!r} is not a tiny directive; write it as '--name=value'")
        return value


class Tiny(BatchScheduler[TinyOptions]):
    """``sub <script>`` prints ``job <id>``; ``stat <ids>`` prints ``<id> <STATE>`` rows."""

    info = SchedulerInfo(name="tiny", script_suffix=".tiny", options_model=TinyOptions)
    package, template = "qcsc_prefect", "unused.j2"
    job_id_pattern = re.compile(r"^\d+$")
    refusals = ("Unknown queue",)
    transient = ("try again",)
    already_gone = ("already done",)
    cache_size = 3

    def __init__(self, bin_dir: Path) -> None:
        super().__init__()
        self.bin = bin_dir
        self.seen: list[Any] = []  # the options each hook handed over

    def directives(self, job: JobSpec, opts: TinyOptions) -> dict[str, Any]:
        self.seen.append(opts)
        return {"queue": job.queue}

    def submit_command(self, script_path: Path, opts: TinyOptions) -> list[str]:
        return [str(self.bin / "sub"), str(script_path)]

    def parse_submit(self, stdout: str) -> str | None:
        found = re.search(r"^job (\S+)", stdout, re.MULTILINE)
        return found.group(1) if found else None

    def status(self, job_ids: Sequence[str], opts: TinyOptions) -> dict[str, JobStatus]:
        self.seen.append(opts)
        result = self.checked(self.run([str(self.bin / "stat"), *job_ids], opts))
        rows = (line.split() for line in result.stdout.splitlines())
        return {job_id: JobStatus(JobState[word], native_state=word) for job_id, word in rows}

    def cancel_command(self, job_ids: Sequence[str], opts: TinyOptions) -> list[str]:
        return [str(self.bin / "kill"), *job_ids]


@pytest.fixture
def tiny(tmp_path: Path) -> Tiny:
    (tmp_path / "bin").mkdir()
    return Tiny(tmp_path / "bin")


def command(tiny: Tiny, name: str, body: str) -> None:
    """Write the tiny scheduler's command ``name`` as a bash script."""
    path = tiny.bin / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


@contextmanager
def counted() -> Iterator[list[CommandCall]]:
    """The commands run inside the block."""
    calls: list[CommandCall] = []
    with observe_commands(calls.append):
        yield calls


#: ``stat``: a row per id, COMPLETED for odd ids and RUNNING for even ones.
STAT = 'for id in "$@"; do case $id in *[13579]) echo "$id COMPLETED";; ' \
       '*) echo "$id RUNNING";; esac; done'


def argv_tails(calls: list[CommandCall]) -> list[list[str]]:
    return [list(call.argv[1:]) for call in calls]


def spec(tmp_path: Path, options: TinyOptions | None = None) -> JobSpec:
    return JobSpec(target="tiny", job_name="hello", work_dir=tmp_path,
                   script_path=tmp_path / "hello.tiny", stdout_path=tmp_path / "hello.t.out",
                   stderr_path=tmp_path / "hello.t.err", executable="/bin/echo",
                   profile=ExecutionProfile(command_key="echo", arguments=["hi there"]),
                   queue="short", options=options, tag="t")


# -- commands -------------------------------------------------------------------------------


def test_a_command_that_does_not_answer_in_time_raises_command_timeout_error(
        tiny: Tiny, tmp_path: Path) -> None:
    command(tiny, "stat", "exec sleep 30")
    command(tiny, "sub", "exec sleep 30")
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError, match="did not answer within command_timeout=1 s"):
        tiny.poll(["1"], {"command_timeout": 1})
    with pytest.raises(CommandTimeoutError) as caught:  # a SchedulerCommandError: maybe queued
        tiny.submit_script(tmp_path / "job.sh", cwd=tmp_path, options={"command_timeout": 1})
    assert caught.value.returncode == -1
    assert time.monotonic() - started < 20


def test_hooks_get_the_options_model_validated_from_a_mapping(tiny: Tiny) -> None:
    command(tiny, "stat", STAT)
    tiny.poll(["2"], {"command_timeout": 5})
    assert tiny.seen == [TinyOptions(command_timeout=5)]
    with pytest.raises(ConfigurationError, match="bogus"):
        tiny.poll(["2"], {"bogus": 1})


def test_invalid_and_duplicate_ids_never_reach_a_command(tiny: Tiny) -> None:
    command(tiny, "stat", STAT)
    command(tiny, "kill", "exit 0")
    with counted() as calls:
        assert set(tiny.poll(["2", "2", "12a", "", "-a", "4"], None)) == {"2", "4"}
        tiny.cancel(["6", "--all", "6", "8 9"], None)
        assert tiny.poll(["nope", "--all"], None) == {}
        tiny.cancel(["*"], None)
    assert argv_tails(calls) == [["2", "4"], ["6"]]


def test_a_failed_status_command_is_a_scheduler_command_error_with_its_output(
        tiny: Tiny) -> None:
    command(tiny, "stat", "echo 'daemon unreachable' >&2; exit 7")
    with pytest.raises(SchedulerCommandError,
                       match="failed with exit code 7: daemon unreachable") as caught:
        tiny.poll(["1"], None)
    assert caught.value.returncode == 7


# -- submission -----------------------------------------------------------------------------


def submit(tiny: Tiny, tmp_path: Path, body: str) -> tuple[str, str]:
    command(tiny, "sub", body)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    return tiny.submit_script(script, cwd=tmp_path, options=None)


def test_printed_ids_match_asked_ids_by_the_sequence_group_of_the_id_pattern(
        tiny: Tiny) -> None:
    assert tiny.match_ids(["5", "6.x", "7"], ["5", "6", "8"]) == {"5": "5"}  # no group
    tiny.job_id_pattern = re.compile(r"^(?P<sequence>\d+)(\.[\w.-]+)?$")
    assert tiny.match_ids(["5", "6.x.example.org", "7.x", "9.a"], ["5", "6.x", "8", "9.b", "9.c"]
                          ) == {"5": "5", "6.x.example.org": "6.x"}  # 9: two candidates


def test_an_id_is_the_answer_of_a_successful_submission(tiny: Tiny, tmp_path: Path) -> None:
    assert submit(tiny, tmp_path, 'echo "job 17"; echo "in $PWD on $1"') == (
        "17", f"job 17\nin {tmp_path} on {tmp_path / 'job.sh'}")


def test_a_refusal_is_a_submit_error(tiny: Tiny, tmp_path: Path) -> None:
    with pytest.raises(SubmitError, match=r"refused .*job\.sh \(exit code 1\): unknown QUEUE"):
        submit(tiny, tmp_path, "echo 'unknown QUEUE nope' >&2; exit 1")


def test_a_refusal_wins_over_an_id_printed_beside_it(tiny: Tiny, tmp_path: Path) -> None:
    with pytest.raises(SubmitError):
        submit(tiny, tmp_path, "echo 'job 5'; echo 'Unknown queue nope' >&2; exit 1")


@pytest.mark.parametrize("body", [
    "echo 'Socket timed out on send/recv' >&2; exit 1",  # a non-zero exit, no known reason
    "exit 3",                                           # not a word
    "echo submitted",                                   # exit 0 without an id
    "echo 'job abc'",                                   # exit 0 with no valid id
])
def test_an_unexplained_submission_failure_is_a_scheduler_command_error(
        tiny: Tiny, tmp_path: Path, body: str) -> None:
    with pytest.raises(SchedulerCommandError, match="may be queued") as caught:
        submit(tiny, tmp_path, body)
    assert type(caught.value) is SchedulerCommandError  # not a SubmitError: core looks it up


def test_a_job_id_printed_beside_an_error_is_followed(tiny: Tiny, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    job_id, _ = submit(tiny, tmp_path, "echo 'job 42'; echo 'accounting is down' >&2; exit 1")
    assert job_id == "42"
    assert "accounting is down" in caplog.text and "printed job id 42" in caplog.text


def test_submit_via_stdin_feeds_the_script(tiny: Tiny, tmp_path: Path) -> None:
    class StdinTiny(Tiny):
        submit_via_stdin = True

    piped = StdinTiny(tiny.bin)
    command(piped, "sub", 'echo "job $(wc -l)"')  # the line count of stdin as the job id
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n# one\n# two\ntrue\n")
    assert piped.submit_script(script, cwd=tmp_path, options=None)[0] == "4"
    assert tiny.submit_script(script, cwd=tmp_path, options=None)[0] == "0"  # named instead


# -- polling --------------------------------------------------------------------------------


def test_finished_statuses_are_served_from_the_cache(tiny: Tiny) -> None:
    command(tiny, "stat", STAT)
    with counted() as calls:
        first = tiny.poll(["1", "2", "9"], None)
        second = tiny.poll(["1", "2", "9", "7"], None)
        assert tiny.poll(["1", "9"], None) == {"1": first["1"], "9": first["9"]}
    assert first["1"].state is JobState.COMPLETED and first["2"].state is JobState.RUNNING
    assert second["1"] is first["1"] and second["7"].state is JobState.COMPLETED
    assert argv_tails(calls) == [["1", "2", "9"], ["2", "7"]]  # the last poll ran nothing


def test_the_cache_is_bounded_and_forgotten_on_request(tiny: Tiny) -> None:
    command(tiny, "stat", STAT)
    with counted() as calls:
        tiny.poll(["1", "3", "5", "7", "9"], None)  # cache_size 3: keeps 5, 7 and 9
        tiny.poll(["1", "3", "5", "7", "9"], None)
        tiny.forget()
        tiny.poll(["9"], None)
    assert argv_tails(calls) == [["1", "3", "5", "7", "9"], ["1", "3"], ["9"]]


def test_a_new_submission_drops_the_cached_end_of_an_earlier_job_with_its_id(
        tiny: Tiny, tmp_path: Path) -> None:
    # A server whose ids start again (a test server, ids that wrapped) hands out an id whose
    # earlier job's end is cached: the new job must be asked about, not taken as ended.
    command(tiny, "stat", STAT)
    with counted() as calls:
        tiny.poll(["1"], None)
        assert submit(tiny, tmp_path, "echo 'job 1'")[0] == "1"
        tiny.poll(["1"], None)
    assert argv_tails(calls)[0] == ["1"] and argv_tails(calls)[-1] == ["1"]


# -- cancelling -----------------------------------------------------------------------------


def test_cancel_ignores_jobs_that_are_already_gone(tiny: Tiny) -> None:
    command(tiny, "kill", "echo '2: already done' >&2; echo '4: already done' >&2; exit 1")
    tiny.cancel(["2", "4"], None)


def test_cancel_raises_for_other_errors_but_not_their_gone_neighbours(tiny: Tiny) -> None:
    command(tiny, "kill", "echo '2: already done' >&2; echo '4: permission denied' >&2; exit 1")
    with counted() as calls, pytest.raises(CancelError) as caught:
        tiny.cancel(["2", "4"], None)
    assert "4: permission denied" in str(caught.value)
    assert "already done" not in str(caught.value)
    assert len(calls) == 1  # not transient: no retry


def test_cancel_without_a_word_is_an_error(tiny: Tiny) -> None:
    command(tiny, "kill", "exit 2")
    with pytest.raises(CancelError, match="exit code 2, no message"):
        tiny.cancel(["2"], None)


def test_cancel_retries_transient_failures(tiny: Tiny, tmp_path: Path) -> None:
    count = tmp_path / "count"
    command(tiny, "kill", f'echo x >> {count}; [ "$(wc -l < {count})" -ge 3 ] && exit 0; '
                          "echo 'busy, try again' >&2; exit 1")
    with counted() as calls:
        tiny.cancel(["2"], None)
    assert [call.returncode for call in calls] == [1, 1, 0]
    count.unlink()
    command(tiny, "kill", "echo 'busy, try again' >&2; exit 1")
    with counted() as calls, pytest.raises(CancelError, match="try again"):
        tiny.cancel(["2"], None)
    assert len(calls) == 3  # the first try and two retries


def test_a_cancel_that_does_not_answer_in_time_is_a_cancel_error(tiny: Tiny) -> None:
    command(tiny, "kill", "exec sleep 30")
    with pytest.raises(CancelError, match="may or may not be cancelled"):
        tiny.cancel(["2"], {"command_timeout": 1})


# -- options and template variables -----------------------------------------------------------


def test_extra_directives_are_checked_by_the_subclass(tiny: Tiny) -> None:
    opts = tiny.info.validate_options({"extra_directives": ["  --mem=4G "]})
    assert opts == TinyOptions(extra_directives=["--mem=4G"])
    with pytest.raises(ConfigurationError, match=r"extra_directives.*'-m 4G' is not a tiny "
                       "directive; write it as '--name=value'"):
        tiny.info.validate_options({"extra_directives": ["-m 4G"]})
    with pytest.raises(ConfigurationError, match="extra_directives.*line break"):
        tiny.info.validate_options({"extra_directives": ["--a=1\n--b=2"]})


def test_template_vars_carry_the_shared_variables_and_the_directives(
        tiny: Tiny, tmp_path: Path) -> None:
    opts = TinyOptions(hold=True, extra_directives=["--mem=4G"])
    job = spec(tmp_path, opts)
    variables = tiny.template_vars(job)
    assert variables == {"job": job, "launch": "/bin/echo 'hi there'", "job_name": "hello",
                         "hold": True, "extra_directives": ["--mem=4G"], "queue": "short"}
    assert variables["launch"] == launch_command(job.profile, job.executable)
    assert tiny.seen == [opts]
    defaults = tiny.template_vars(spec(tmp_path))
    assert (defaults["hold"], defaults["extra_directives"]) == (False, [])


def test_a_tag_no_directive_can_carry_is_refused_before_any_directive(
        tiny: Tiny, tmp_path: Path) -> None:
    for tag in ("a b", "a,b", "x/y", "t\n"):
        with pytest.raises(ConfigurationError, match=f"^tag: {re.escape(repr(tag))} must be"):
            tiny.template_vars(replace(spec(tmp_path), tag=tag))
    assert tiny.seen == []  # refused before the plugin's own directives ran


def test_newest_tagged_reads_newest_first_in_chunks_and_stops_after_the_hits(
        tiny: Tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny, "lookup_chunk", 3)
    monkeypatch.setattr(tiny, "lookup_limit", 8)
    asked: list[list[str]] = []

    def tagged(ids: list[str]) -> list[str]:
        asked.append(ids)
        return [job_id for job_id in ids if job_id in {"9", "10", "7"}]

    ids = ["2", "10", "x", "7", "9", "10", "100", "3", "1", "4", "5", "6", "8"]
    assert tiny.newest_tagged(ids, tagged) == ["10", "9", "7"]
    assert asked == [["100", "10", "9"], ["8", "7", "6"], ["5", "4"]]  # 8: lookup_limit
    asked.clear()
    assert tiny.newest_tagged(ids, lambda chunk: asked.append(chunk) or []) == []
    assert [job_id for chunk in asked for job_id in chunk] == ["100", "10", "9", "8", "7", "6",
                                                               "5", "4"]


# -- declared rather than written ---------------------------------------------------------------


def test_declared_output_paths_are_checked_quoted_and_blamed_on_the_right_field(
        tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny, "output_paths", PathRule("#T -o", refuse="$", absolute=True))
    variables = tiny.template_vars(spec(tmp_path))
    assert (variables["output"], variables["error"]) == (f'"{tmp_path}/hello.t.out"',
                                                         f'"{tmp_path}/hello.t.err"')
    bad_dir = tmp_path / "a$b"
    with pytest.raises(ConfigurationError, match=r"^work_dir: .*'\$', which #T -o cannot"):
        tiny.template_vars(replace(spec(tmp_path), work_dir=bad_dir,
                                   stdout_path=bad_dir / "x.out", stderr_path=bad_dir / "x.err"))
    with pytest.raises(ConfigurationError, match=r"^script_filename: .*'\$'"):
        tiny.template_vars(replace(spec(tmp_path), stdout_path=tmp_path / "h$.t.out"))
    monkeypatch.setattr(tiny, "output_paths", PathRule("#T -o", refuse="$", quote=str,
                                                       name_if_refused=True))
    named = tiny.output_values(replace(spec(tmp_path), work_dir=bad_dir,
                                       stdout_path=bad_dir / "x.out"), stats=bad_dir / "x.st")
    assert named == {"output": "x.out", "error": str(tmp_path / "hello.t.err"),
                     "stats": "x.st"}
    assert "output" not in Tiny(tmp_path).template_vars(spec(tmp_path))  # none declared



class DeclaredOptions(BatchOptions):
    directive_syntax = DirectiveSyntax(prefix="#D", command="dsub", example="-m abe",
                                       reserved={"-o": "the output file; remove it"})
    unsupported = {"hold": "dsub cannot hold a job; hold it after submission"}


class Declared(BatchScheduler[DeclaredOptions]):
    """A scheduler of declarations only: commands, id pattern, error lines, answers."""

    info = SchedulerInfo(name="declared", script_suffix=".d", options_model=DeclaredOptions)
    package, template = "qcsc_prefect", "unused.j2"
    job_id_pattern = re.compile(r"^\d+$")
    submit_argv, submitted, cancel_argv = ("dsub", "-q"), re.compile(r"job (\d+) queued"), (
        "ddel",)
    error_line = re.compile(r"^ERROR: .*$", re.MULTILINE)
    already_gone = ("no such job",)
    cancel_answers = ("is being killed",)
    unknown_id = ("unknown id",)


def test_declared_options_check_directives_and_refuse_what_the_scheduler_cannot_do() -> None:
    info = Declared.info
    assert info.validate_options({"extra_directives": [" -m abe "]}).extra_directives == [
        "-m abe"]
    with pytest.raises(ConfigurationError, match="extra_directives: '-o x' sets -o, the output"):
        info.validate_options({"extra_directives": ["-o x"]})
    with pytest.raises(ConfigurationError, match="hold: dsub cannot hold a job"):
        info.validate_options({"hold": True})
    assert info.validate_options({"hold": False}).hold is False


def test_declared_commands_and_submit_answer(tmp_path: Path) -> None:
    plugin, opts = Declared(), DeclaredOptions()
    assert plugin.submit_command(tmp_path / "a.d", opts) == ["dsub", "-q", str(tmp_path / "a.d")]
    assert plugin.cancel_command(["1", "2"], opts) == ["ddel", "1", "2"]
    assert plugin.parse_submit("hello\njob 42 queued\n") == "42"
    assert plugin.parse_submit("nothing") is None

    class Piped(Declared):
        submit_via_stdin = True

    assert Piped().submit_command(tmp_path / "a.d", opts) == ["dsub", "-q"]
    with pytest.raises(NotImplementedError, match="submit_argv"):
        BatchScheduler[DeclaredOptions]().submit_command(tmp_path, opts)  # nothing declared


def test_error_lines_fail_a_command_whatever_its_exit_code() -> None:
    plugin = Declared()
    said = CommandResult(["ddel"], 0, "note: fine\n", "ERROR: 7 no such job\nERROR: 8 denied\n")
    assert not plugin.succeeded(said)
    assert plugin.error_lines(said) == ["ERROR: 7 no such job", "ERROR: 8 denied"]
    assert plugin.cancel_problems(said) == ["ERROR: 8 denied"]  # "note" lines are no problem
    assert plugin.succeeded(CommandResult(["ddel"], 0, "note: fine\n", ""))
    assert Tiny(Path()).error_lines(said) == []  # without error_line: the exit code decides


def test_cancel_answers_and_gone_jobs_are_no_problem() -> None:
    answer = CommandResult(["ddel"], 1, "Job 1 is being killed\n", "Job 2: No such job\n")
    assert Declared().cancel_problems(answer) == []
    answer = CommandResult(["ddel"], 1, "Job 1 is being killed\nJob 3 denied\n", "")
    assert Declared().cancel_problems(answer) == ["Job 3 denied"]


def test_only_unknown_ids_is_an_answer_of_a_status_command() -> None:
    plugin = Declared()
    assert plugin.only_unknown(CommandResult(["dstat"], 1, "", "id 5: Unknown ID\n\n"))
    assert not plugin.only_unknown(CommandResult(["dstat"], 1, "", "unknown id 5\nbusy\n"))
    assert not plugin.only_unknown(CommandResult(["dstat"], 1, "", ""))


def test_a_lacking_feature_is_remembered_logged_once_and_forgotten(
        caplog: pytest.LogCaptureFixture) -> None:
    plugin = Declared()
    assert not plugin.lacks("json")
    plugin.found_lacking("json", "the server has no JSON output; reading text")
    plugin.found_lacking("json", "the server has no JSON output; reading text")
    assert plugin.lacks("json")
    assert caplog.text.count("declared: the server has no JSON output") == 1
    plugin.forget()
    assert not plugin.lacks("json")


def test_a_warning_is_logged_once_per_key_until_forgotten(
        caplog: pytest.LogCaptureFixture) -> None:
    plugin = Declared()
    for _ in range(2):
        plugin.warn_once("quiet", "dstat said: %s", "100% busy")
    plugin.warn_once("other", "dstat said: %s", "100% busy")
    assert caplog.text.count("declared: dstat said: 100% busy") == 2
    assert not plugin.lacks("quiet")
    plugin.forget()
    plugin.warn_once("quiet", "dstat said: %s", "100% busy")
    assert caplog.text.count("declared: dstat said: 100% busy") == 3


def test_a_lacking_feature_warns_once_apart_from_a_warning_keyed_like_it(
        caplog: pytest.LogCaptureFixture) -> None:
    plugin = Declared()
    plugin.warn_once("json", "a note about json")
    plugin.found_lacking("json", "no JSON output")
    plugin.found_lacking("json", "no JSON output")
    assert caplog.text.count("declared: no JSON output") == 1
    assert plugin.lacks("json")
