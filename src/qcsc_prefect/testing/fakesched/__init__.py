"""Stateful fake schedulers for testing plugins where the real scheduler cannot run.

:mod:`.engine` is the fake cluster (job records in a directory, a queue with a slot limit,
jobs really run by core's detached runner, fault injection, a log of every command call);
a front-end module per scheduler family (:mod:`.pbs`, :mod:`.pjm`) turns it into that
family's commands, printing the real output formats. :func:`.engine.install_commands`
writes the commands as small wrapper scripts into a directory you put first on ``PATH``.

This package imports only the standard library, so the commands start in milliseconds.
"""
