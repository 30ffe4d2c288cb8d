# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""papermerge_wait: wait for a backup or restore started with async, printing its progress on every poll.

One task instead of an async_status loop, whose only sign of life is "FAILED - RETRYING: ... (2160 retries left)":
every poll_interval seconds it asks the job's status the way the async_status action does (the async_status module
with the connection's async directory, ansible-core 2.15 to 2.19 alike), reads the job's progress file with one
shell command, and prints a line through Display, which from a worker process goes to the controller's output at
once (and becomes an event in AWX).  When the job ends it removes the job's status and progress files and returns
the module's own result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.papermerge.backup.plugins.module_utils.progress import describe
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import name_settings, setting

display = Display()

ARGUMENT_SPEC = dict(
    jid=dict(type="str", required=True),
    timeout=dict(type="int", required=True),
    poll_interval=dict(type="int", default=10),
    progress_file=dict(type="path"),
    files_total=dict(type="int"),
    setting_names=dict(type="dict", default={}),
)
# The status async_wrapper writes when it kills a job at its time limit.
TIMEOUT_MESSAGE = "Timeout exceeded"
# How long past the job's time limit the wait goes on without a final status: async_wrapper checks its job every
# few seconds, then writes the status a second after the kill.
GRACE_SECONDS = 60


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["timeout"] < 1 or args["poll_interval"] < 1:
            return dict(failed=True, msg="timeout and poll_interval must be 1 or more seconds")
        host = (task_vars or {}).get("inventory_hostname", "")
        try:
            result = self._wait(args, host, task_vars)
        finally:
            self._remove_progress_file(args["progress_file"])
        return result

    def _wait(self, args, host, task_vars):
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        # The job's own time limit ends it first (async_wrapper kills it and says so); this bound only guards
        # against a status that never comes.
        grace = max(GRACE_SECONDS, 2 * args["poll_interval"])
        deadline = time.monotonic() + args["timeout"] + grace
        while True:
            status = self._status(args["jid"], async_dir, task_vars)
            if status.get("finished") or status.get("failed"):
                self._cleanup(args["jid"], async_dir, task_vars)
                return self._outcome(status, args)
            if time.monotonic() > deadline:
                return dict(failed=True, msg=name_settings(
                    "no word from the job %s for %d s after its time limit: look at the host, then raise %s"
                    % (args["jid"], grace, setting("timeout")), args["setting_names"]))
            line = describe(self._progress(args["progress_file"]), args["files_total"])
            display.display("%s: %s" % (host, line or "running"))
            time.sleep(args["poll_interval"])

    def _status(self, jid, async_dir, task_vars):
        return self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                    module_args=dict(jid=jid, _async_dir=async_dir))

    def _cleanup(self, jid, async_dir, task_vars):
        self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                             module_args=dict(jid=jid, mode="cleanup", _async_dir=async_dir))

    def _outcome(self, status, args):
        """The module's result as it ran; a job killed at its time limit is told in the caller's words."""
        result = dict((key, value) for key, value in status.items()
                      if key not in ("started", "finished", "results_file", "ansible_job_id", "stdout_lines",
                                     "stderr_lines"))
        if result.get("failed") and result.get("msg") == TIMEOUT_MESSAGE:
            result["msg"] = name_settings(
                "the job did not finish within %d s and was stopped: raise %s and run it again"
                % (args["timeout"], setting("timeout")), args["setting_names"])
        return result

    def _progress(self, path):
        """The job's progress as it published it, or None (not written yet, or no progress file)."""
        if not path:
            return None
        found = self._low_level_execute_command("cat -- %s" % self._connection._shell.quote(path))
        if found.get("rc") != 0:
            return None
        try:
            return json.loads(found.get("stdout") or "")
        except ValueError:
            return None

    def _remove_progress_file(self, path):
        if path:
            self._low_level_execute_command("rm -f -- %s" % self._connection._shell.quote(path))
