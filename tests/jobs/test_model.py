"""What a submit may say (JobSpec), and the ``jobs:`` section of the admin YAML."""

from __future__ import annotations

import pytest
import yaml

from assay.config import parse
from assay.errors import ConfigError, InvalidJob
from assay.jobs.model import DriftRule, JobSpec

BASE = {"name": "nightly", "notebook_path": "a.ipynb", "profile": "cpu-small"}


def test_defaults():
    spec = JobSpec.parse(BASE)
    assert (spec.schedule, spec.timezone, spec.timeout_s, spec.retries, spec.retry_backoff_s,
            spec.max_concurrency, spec.catchup, spec.webhook, spec.drift_rules,
            spec.paused) == (None, "UTC", 3600, 0, 60.0, 1, "latest", None, [], False)


def test_a_full_spec():
    spec = JobSpec.parse({**BASE, "schedule": "30  6 * * 1-5", "timezone": "Europe/Berlin",
                          "timeout_s": None, "retries": 2, "retry_backoff_s": 5,
                          "max_concurrency": 3, "catchup": "all",
                          "webhook": "https://hooks.example.org/x?y=1",
                          "drift_rules": [{"metric": "auc", "kind": "sigma", "k": 2},
                                          {"metric": "auc", "kind": "bounds", "min": 0.8}]})
    assert spec.schedule == "30 6 * * 1-5"
    assert spec.drift_rules[1] == DriftRule(metric="auc", kind="bounds", min=0.8)


BAD = [
    ({"name": "Nightly Run"}, "name: must be 1-64 lowercase ASCII letters, digits, '.', '_' "
                              "and '-', starting and ending with a letter or digit, got "
                              "'Nightly Run'"),
    ({"schedule": "every day"}, "schedule: must be five cron fields 'minute hour "
                                "day-of-month month day-of-week' (e.g. '30 6 * * 1-5') or one "
                                "of @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
                                "@hourly, got 'every day'"),
    ({"schedule": "0 25 * * *"}, "schedule: must be five cron fields"),
    ({"schedule": "* * * * * *"}, "schedule: must be five cron fields"),
    ({"schedule": "@reboot"}, "schedule: unknown cron alias '@reboot'; valid aliases: "
                              "@yearly, @annually"),
    ({"schedule": "0 0 31 2 *"}, "schedule: cron expression '0 0 31 2 *' never fires"),
    ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'; use an IANA "
                                   "name such as 'UTC', 'Europe/Berlin' or "
                                   "'America/New_York'"),
    ({"timezone": "../etc/passwd"}, "timezone: must be an IANA time zone such as 'UTC' or "
                                    "'Europe/Berlin', got '../etc/passwd'"),
    ({"catchup": "some"}, "catchup: must be one of 'none', 'latest' or 'all', got 'some'"),
    ({"retries": 11}, "retries: must be <= 10, got 11"),
    ({"retries": "2"}, "retries: must be a whole number, got '2'"),
    ({"timeout_s": 0}, "timeout_s: must be >= 1, got 0"),
    ({"max_concurrency": 0}, "max_concurrency: must be >= 1, got 0"),
    ({"paused": "no"}, "paused: must be true or false, got 'no'"),
    ({"webhook": "ftp://x/y"}, "webhook: must be an http:// or https:// URL without user "
                               "name or password, got 'ftp://x/y'"),
    ({"webhook": "http://u:p@127.0.0.1/"}, "webhook: must be an http:// or https:// URL"),
    ({"cron": "* * * * *"}, "cron: unknown key. Valid keys: catchup, drift_rules, max_concurrency,"
                            " name, notebook_path, parameters, paused, profile, retries, "
                            "retry_backoff_s, schedule, timeout_s, timezone, webhook"),
    ({"drift_rules": [{"metric": "auc", "kind": "bounds"}]},
     "drift_rules[0]: a 'bounds' rule needs 'min', 'max' or both"),
    ({"drift_rules": [{"metric": "auc", "kind": "bounds", "min": 2, "max": 1}]},
     "drift_rules[0]: min 2 is greater than max 1"),
    ({"drift_rules": [{"metric": "auc", "kind": "sigma", "max": 1}]},
     "drift_rules[0]: 'min' and 'max' belong to 'bounds' rules"),
    ({"drift_rules": [{"metric": "auc", "kind": "sigma", "sd": 1}]},
     "drift_rules[0].sd: unknown key. Valid keys: k, kind, max, metric, min, min_history, "
     "window"),
    ({"drift_rules": [{"metric": "a b", "kind": "sigma"}]},
     "drift_rules[0].metric: must be 1-64 ASCII letters, digits, '_', '.' and '-', got 'a b'"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[str(b[0])[:40] for b in BAD])
def test_bad_specs_name_field_value_and_choices(change, message):
    with pytest.raises(InvalidJob) as err:
        JobSpec.parse({**BASE, **change})
    assert err.value.status_code == 400
    assert err.value.problems[0].startswith(message), err.value.problems


def test_missing_fields_are_listed_together():
    with pytest.raises(InvalidJob) as err:
        JobSpec.parse({})
    assert err.value.problems == ["name: required but missing",
                                  "notebook_path: required but missing",
                                  "profile: required but missing"]
    assert err.value.body() == {"error": "invalid_job", "message": err.value.user_message,
                                "problems": err.value.problems}


def test_a_body_that_is_not_a_mapping():
    with pytest.raises(InvalidJob, match="must be a mapping of job fields, got list"):
        JobSpec.parse([])


# -- the admin YAML -----------------------------------------------------------------


def test_jobs_section_defaults(demo_yaml_text):
    jobs = parse(demo_yaml_text).jobs
    assert (jobs.webhook_hosts, jobs.max_concurrent_runs, jobs.tick_seconds) == (
        ["127.0.0.1", "localhost"], 2, 1.0)


def test_jobs_section_values(demo_config_data):
    demo_config_data["jobs"] = {"webhook_hosts": ["Hooks.Example.org", "[::1]"],
                                "max_concurrent_runs": 8, "tick_seconds": 2}
    jobs = parse(yaml.safe_dump(demo_config_data)).jobs
    assert (jobs.webhook_hosts, jobs.max_concurrent_runs, jobs.tick_seconds) == (
        ["hooks.example.org", "::1"], 8, 2.0)


def test_jobs_section_errors(demo_config_data):
    demo_config_data["jobs"] = {"webhook_hosts": ["http://x.org/"], "max_concurrent_runs": 0,
                                "tick_seconds": "1", "queue": 3}
    with pytest.raises(ConfigError) as err:
        parse(yaml.safe_dump(demo_config_data))
    assert err.value.errors == [
        "jobs.webhook_hosts: each host must be a host name or IP address without scheme, port "
        "or path, e.g. hooks.example.org, got 'http://x.org/'",
        "jobs.max_concurrent_runs: must be >= 1, got 0",
        "jobs.tick_seconds: must be a number, got '1'",
        "jobs.queue: unknown key. Valid keys: keep_run_folders_hours, max_concurrent_runs, "
        "tick_seconds, webhook_hosts",
    ]
