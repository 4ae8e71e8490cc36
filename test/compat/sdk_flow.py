"""Wire-compatibility suite: drives a running Nebula manager through the official
Python SDK (NebulaPythonSDK 2.8.0) over real HTTP.

The SDK is the contract's strictest client: every method returns
{"status_code": ..., "reply": response.json()}, so any non-JSON body (a text 401,
an HTML 404/500) crashes it. The expected codes and bodies are those of the original
Nebula 2.7 manager (see the shared reference, sections 1 and 5.1), plus our
deliberate deviations:
  - "rw" implies "ro" in user-group permissions;
  - deleting an app / cron job removes it from every device group listing it and
    bumps that group's device_group_id;
  - 401 bodies are JSON;
  - a missing device group on update / prune answers 403 {"device_group_exists": false};
  - a created cron job defaults networks to ["nebula", "bridge"].

Configuration (env): NEBULA_HOST, NEBULA_PORT, NEBULA_USER, NEBULA_PASSWORD (the
manager's local admin). The suite expects a manager with a fresh store (it asserts an
empty reports query); test/compat/sdk.test.ts starts one on a temp data dir.

Run:  .cache/sdk-venv/bin/python -m unittest discover -s test/compat -p sdk_flow.py -v
(`discover` rather than a dotted module name: the stdlib has its own `test` package.)
"""

import itertools
import os
import re
import unittest
import uuid

from NebulaPythonSDK import Nebula

HOST = os.environ.get("NEBULA_HOST", "127.0.0.1")
PORT = int(os.environ.get("NEBULA_PORT", "80"))
ADMIN_USER = os.environ.get("NEBULA_USER", "nebula")
ADMIN_PASSWORD = os.environ.get("NEBULA_PASSWORD", "nebula")
# The SDK's default is 60 s; a hung request should fail the run well before that.
REQUEST_TIMEOUT = 20

OID_HEX = re.compile(r"^[0-9a-f]{24}$")
APP_DEFAULTS = {
    "starting_ports": [],
    "containers_per": {"server": 1},
    "env_vars": {},
    "running": True,
    "networks": ["nebula", "bridge"],
    "volumes": [],
    "devices": [],
    "privileged": False,
    "rolling_restart": False,
}
# POST (force_all) update resets omitted fields to these; env_vars becomes a *list*
# (an original quirk that the upstream SDK tests assert).
APP_FORCE_ALL_DEFAULTS = dict(APP_DEFAULTS, env_vars=[])
CRON_DEFAULTS = {
    "env_vars": {},
    "running": True,
    "networks": ["nebula", "bridge"],  # deliberate fix: the original stored []
    "volumes": [],
    "devices": [],
    "privileged": False,
}
INFO_KEYS = {"apps", "apps_list", "prune_id", "cron_jobs", "cron_jobs_list", "device_group_id"}

# Names are unique per run and per call, so tests never depend on each other's objects
# and the suite can be re-run against the same manager (except the empty-reports check).
_RUN = uuid.uuid4().hex[:6]
_COUNTER = itertools.count(1)


def unique(kind):
    return "sdk-%s-%s-%d" % (kind, _RUN, next(_COUNTER))


def client(username=None, password=None, token=None, host_uri=None):
    if host_uri is not None:
        return Nebula(username=username, password=password, token=token, host_uri=host_uri,
                      request_timeout=REQUEST_TIMEOUT)
    return Nebula(username=username, password=password, token=token, host=HOST, port=PORT,
                  request_timeout=REQUEST_TIMEOUT)


def admin_client():
    return client(username=ADMIN_USER, password=ADMIN_PASSWORD)


class NebulaCase(unittest.TestCase):
    """Shared assertions and fixtures. Fixtures register a cleanup that deletes what
    they created (ignoring the reply: a test may already have deleted it)."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.nebula = admin_client()

    # ---- assertions -------------------------------------------------------------

    def assertStatus(self, result, status):
        self.assertEqual(result["status_code"], status,
                         "expected HTTP %d, got %d with reply %r"
                         % (status, result["status_code"], result["reply"]))
        return result["reply"]

    def assertReply(self, result, status, body):
        """Exact status, and the original's body. Success bodies must match exactly.
        Error bodies must carry the original's keys with the original's values; our
        manager adds a catalogued "code" and a "message" (plus details such as the
        offending name) beside them, which the SDK and old clients simply ignore."""
        reply = self.assertStatus(result, status)
        if status < 400:
            self.assertEqual(reply, body)
        else:
            self.assertIsInstance(reply, dict)
            self.assertEqual({key: reply.get(key, "<absent>") for key in body}, body,
                             "error body %r lacks the original's keys" % (reply,))
        return reply

    def assertNoId(self, doc):
        # Create and GET replies come from projections that drop Mongo's _id.
        self.assertIsInstance(doc, dict)
        self.assertNotIn("_id", doc)

    def assertOid(self, doc):
        # Update-style replies carry _id in extended JSON: {"$oid": "<24 hex>"}.
        self.assertIsInstance(doc, dict)
        self.assertIn("_id", doc)
        self.assertIsInstance(doc["_id"], dict)
        self.assertEqual(set(doc["_id"]), {"$oid"})
        self.assertRegex(doc["_id"]["$oid"], OID_HEX)

    def assertFields(self, doc, expected):
        for key, value in expected.items():
            self.assertIn(key, doc)
            self.assertEqual(doc[key], value, "field %r" % key)

    def assertUnauthorizedJson(self, call, *args):
        """401 with a JSON body: the SDK calls response.json() unconditionally, so a
        text body (the original's 'Unauthorized Access') raises inside the SDK."""
        try:
            result = call(*args)
        except ValueError as err:  # requests' JSONDecodeError is a ValueError
            self.fail("401 reply is not JSON, the SDK cannot parse it: %r" % err)
        self.assertStatus(result, 401)
        return result["reply"]

    # ---- fixtures ---------------------------------------------------------------

    def make_app(self, name=None, config=None):
        name = name or unique("app")
        result = self.nebula.create_app(name, config or {"docker_image": "nginx:alpine"})
        self.addCleanup(self.nebula.delete_app, name)
        self.assertStatus(result, 200)
        return name

    def make_cron_job(self, name=None, config=None):
        name = name or unique("cron")
        result = self.nebula.create_cron_job(
            name, config or {"schedule": "0 * * * *", "docker_image": "busybox"})
        self.addCleanup(self.nebula.delete_cron_job, name)
        self.assertStatus(result, 200)
        return name

    def make_device_group(self, name=None, config=None):
        name = name or unique("dg")
        result = self.nebula.create_device_group(name, config if config is not None else {"apps": []})
        self.addCleanup(self.nebula.delete_device_group, name)
        self.assertStatus(result, 200)
        return name

    def make_user(self, name=None, config=None):
        name = name or unique("user")
        result = self.nebula.create_user(name, config or {"password": "pw-" + name, "token": "tk-" + name})
        self.addCleanup(self.nebula.delete_user, name)
        self.assertStatus(result, 200)
        return name

    def make_user_group(self, name=None, config=None):
        name = name or unique("ug")
        result = self.nebula.create_user_group(name, config or {})
        self.addCleanup(self.nebula.delete_user_group, name)
        self.assertStatus(result, 200)
        return name


class TestStatusAndAuth(NebulaCase):

    def test_check_api(self):
        self.assertReply(self.nebula.check_api(), 200, {"api_available": True})

    def test_host_uri_client(self):
        # SDK 2.8.0's host_uri replaces protocol://host:port entirely.
        nebula = client(ADMIN_USER, ADMIN_PASSWORD, host_uri="http://%s:%d" % (HOST, PORT))
        self.assertReply(nebula.check_api(), 200, {"api_available": True})

    def test_wrong_password_is_401_json(self):
        nebula = client(ADMIN_USER, ADMIN_PASSWORD + "-wrong")
        self.assertUnauthorizedJson(nebula.check_api)

    def test_unknown_user_is_401_json(self):
        nebula = client(unique("nobody"), "whatever")
        self.assertUnauthorizedJson(nebula.list_apps)

    def test_no_credentials_is_401_json(self):
        # /status is not public in v2: it needs authentication too.
        self.assertUnauthorizedJson(client().check_api)

    def test_unknown_bearer_token_is_401_json(self):
        self.assertUnauthorizedJson(client(token="not-a-token-" + _RUN).check_api)


class TestApps(NebulaCase):

    FULL_CONFIG = {
        "starting_ports": [80, {"8888": "8080"}],
        "containers_per": {"server": 2},
        "env_vars": {"GREETING": "hello", "MODE": "test"},
        "docker_image": "nginx:alpine",
        "running": True,
        "volumes": ["/tmp:/tmp/1", "/var/tmp/:/var/tmp/1:ro"],
        "networks": ["nebula", "bridge"],
        "devices": [],
        "privileged": False,
        "rolling_restart": False,
    }

    def test_app_lifecycle_and_ids(self):
        """The SDK's core flow; app_id must go 1 -> 6 across stop, start, restart,
        PUT update and POST update, exactly as the upstream SDK tests expect."""
        name = unique("app")
        self.addCleanup(self.nebula.delete_app, name)
        self.nebula.delete_app(name)  # cleanup of a leftover; 403 when there is none

        created = self.assertStatus(self.nebula.create_app(name, self.FULL_CONFIG), 200)
        self.assertNoId(created)
        self.assertFields(created, dict(self.FULL_CONFIG, app_name=name, app_id=1))

        info = self.assertStatus(self.nebula.list_app_info(name), 200)
        self.assertNoId(info)
        self.assertFields(info, dict(self.FULL_CONFIG, app_name=name, app_id=1))

        self.assertReply(self.nebula.create_app(name, self.FULL_CONFIG), 403, {"app_exists": True})

        stopped = self.assertStatus(self.nebula.stop_app(name), 202)
        self.assertOid(stopped)
        self.assertFields(stopped, {"app_name": name, "running": False, "app_id": 2})

        started = self.assertStatus(self.nebula.start_app(name), 202)
        self.assertOid(started)
        self.assertFields(started, {"running": True, "app_id": 3})

        restarted = self.assertStatus(self.nebula.restart_app(name), 202)
        self.assertOid(restarted)
        self.assertFields(restarted, {"running": True, "app_id": 4})

        # PUT: partial $set, every other field is kept.
        put = self.assertStatus(self.nebula.update_app(name, {"docker_image": "httpd:alpine"}), 202)
        self.assertOid(put)
        self.assertFields(put, {"app_id": 5, "docker_image": "httpd:alpine",
                                "env_vars": self.FULL_CONFIG["env_vars"],
                                "starting_ports": self.FULL_CONFIG["starting_ports"],
                                "containers_per": {"server": 2}})

        # POST (force_all): full replace, every omitted field back to its default.
        post = self.assertStatus(
            self.nebula.update_app(name, {"docker_image": "httpd:alpine"}, force_all=True), 202)
        self.assertOid(post)
        self.assertFields(post, dict(APP_FORCE_ALL_DEFAULTS, app_id=6, app_name=name,
                                     docker_image="httpd:alpine"))

        # Restarting a stopped app is refused (the worker would have nothing to restart).
        self.assertStatus(self.nebula.stop_app(name), 202)
        self.assertReply(self.nebula.restart_app(name), 403, {"running_before_restart": False})

        self.assertReply(self.nebula.delete_app(name), 200, {})
        self.assertReply(self.nebula.delete_app(name), 403, {"app_exists": False})

    def test_create_defaults(self):
        name = unique("app")
        self.addCleanup(self.nebula.delete_app, name)
        created = self.assertStatus(self.nebula.create_app(name, {"docker_image": "nginx:alpine"}), 200)
        self.assertNoId(created)
        self.assertFields(created, dict(APP_DEFAULTS, app_name=name, app_id=1, docker_image="nginx:alpine"))
        info = self.assertStatus(self.nebula.list_app_info(name), 200)
        self.assertNoId(info)
        self.assertFields(info, dict(APP_DEFAULTS, app_name=name, app_id=1, docker_image="nginx:alpine"))

    def test_create_without_docker_image(self):
        name = unique("app")
        self.addCleanup(self.nebula.delete_app, name)
        reply = self.assertStatus(self.nebula.create_app(name, {}), 400)
        self.assertIsInstance(reply.get("missing_parameters"), list)
        self.assertIn("docker_image", reply["missing_parameters"])
        # Nothing was stored.
        self.assertReply(self.nebula.list_app_info(name), 403, {"app_exists": False})

    def test_force_all_update_without_docker_image(self):
        name = self.make_app()
        reply = self.assertStatus(self.nebula.update_app(name, {"running": False}, force_all=True), 400)
        self.assertIn("missing_parameters", reply)

    def test_list_apps(self):
        first, second = self.make_app(), self.make_app()
        apps = self.assertStatus(self.nebula.list_apps(), 200)
        self.assertEqual(set(apps), {"apps"})
        self.assertIn(first, apps["apps"])
        self.assertIn(second, apps["apps"])
        self.assertReply(self.nebula.delete_app(first), 200, {})
        apps = self.assertStatus(self.nebula.list_apps(), 200)["apps"]
        self.assertNotIn(first, apps)
        self.assertIn(second, apps)

    def test_missing_app_is_403(self):
        # Clients such as drone-nebula read 403 as "does not exist": never 404.
        name = unique("ghost")
        missing = {"app_exists": False}
        self.assertReply(self.nebula.list_app_info(name), 403, missing)
        self.assertReply(self.nebula.stop_app(name), 403, missing)
        self.assertReply(self.nebula.start_app(name), 403, missing)
        self.assertReply(self.nebula.restart_app(name), 403, missing)
        self.assertReply(self.nebula.update_app(name, {"docker_image": "x"}), 403, missing)
        self.assertReply(self.nebula.update_app(name, {"docker_image": "x"}, force_all=True), 403, missing)
        self.assertReply(self.nebula.delete_app(name), 403, missing)

    def test_starting_ports_out_of_range(self):
        name = unique("app")
        self.addCleanup(self.nebula.delete_app, name)
        self.assertReply(self.nebula.create_app(name, {"docker_image": "nginx", "starting_ports": [70000]}),
                         400, {"starting_ports": "invalid port"})
        self.assertReply(self.nebula.create_app(name, {"docker_image": "nginx",
                                                       "starting_ports": [{"8080": "70000"}]}),
                         400, {"starting_ports": "invalid port"})
        self.assertReply(self.nebula.create_app(name, {"docker_image": "nginx", "starting_ports": [0]}),
                         400, {"starting_ports": "invalid port"})

    def test_starting_ports_not_numeric(self):
        # The original answers 403 here; any 4xx naming the field is acceptable.
        name = unique("app")
        self.addCleanup(self.nebula.delete_app, name)
        result = self.nebula.create_app(name, {"docker_image": "nginx", "starting_ports": ["abc"]})
        self.assertTrue(400 <= result["status_code"] < 500, result)
        self.assertIn("starting_ports", result["reply"])
        self.assertReply(self.nebula.list_app_info(name), 403, {"app_exists": False})

    def test_starting_ports_checked_on_updates(self):
        name = self.make_app()
        self.assertReply(self.nebula.update_app(name, {"starting_ports": [70000]}),
                         400, {"starting_ports": "invalid port"})
        self.assertReply(self.nebula.update_app(name, {"docker_image": "nginx", "starting_ports": [70000]},
                                                force_all=True),
                         400, {"starting_ports": "invalid port"})
        # A rejected update changes nothing, app_id included.
        info = self.assertStatus(self.nebula.list_app_info(name), 200)
        self.assertFields(info, {"app_id": 1, "starting_ports": []})


class TestDeviceGroups(NebulaCase):

    def test_device_group_flow(self):
        app_a, app_b = self.make_app(), self.make_app()
        cron = self.make_cron_job()
        name = unique("dg")
        self.addCleanup(self.nebula.delete_device_group, name)

        created = self.assertStatus(
            self.nebula.create_device_group(name, {"apps": [app_a, app_b], "cron_jobs": [cron]}), 200)
        self.assertNoId(created)
        self.assertFields(created, {"device_group": name, "apps": [app_a, app_b], "cron_jobs": [cron],
                                    "device_group_id": 1, "prune_id": 1})

        self.assertReply(self.nebula.create_device_group(name, {"apps": []}), 403,
                         {"device_group_exists": True})

        group = self.assertStatus(self.nebula.list_device_group(name), 200)
        self.assertNoId(group)
        self.assertFields(group, {"device_group": name, "apps": [app_a, app_b], "cron_jobs": [cron],
                                  "device_group_id": 1, "prune_id": 1})

        # /info is what workers poll: full app and cron docs, no _id anywhere.
        info = self.assertStatus(self.nebula.list_device_group_info(name), 200)
        self.assertEqual(set(info), INFO_KEYS)
        self.assertEqual(info["apps_list"], [app_a, app_b])
        self.assertEqual(info["cron_jobs_list"], [cron])
        self.assertEqual(info["device_group_id"], 1)
        self.assertEqual(info["prune_id"], 1)
        self.assertEqual([doc["app_name"] for doc in info["apps"]], [app_a, app_b])
        for doc in info["apps"]:
            self.assertNoId(doc)
            self.assertFields(doc, dict(APP_DEFAULTS, app_id=1, docker_image="nginx:alpine"))
        self.assertEqual([doc["cron_job_name"] for doc in info["cron_jobs"]], [cron])
        for doc in info["cron_jobs"]:
            self.assertNoId(doc)
            self.assertFields(doc, {"cron_job_id": 1, "schedule": "0 * * * *", "docker_image": "busybox"})

        # prune_id moves by exactly one per prune; device_group_id does not move.
        for expected in (2, 3):
            pruned = self.assertStatus(self.nebula.prune__device_group_images(name), 202)
            self.assertOid(pruned)
            self.assertFields(pruned, {"device_group": name, "prune_id": expected, "device_group_id": 1})

        updated = self.assertStatus(self.nebula.update_device_group(name, {"apps": []}), 202)
        self.assertOid(updated)
        # PUT is a partial $set: cron_jobs stays.
        self.assertFields(updated, {"device_group": name, "apps": [], "cron_jobs": [cron],
                                    "device_group_id": 2, "prune_id": 3})

        groups = self.assertStatus(self.nebula.list_device_groups(), 200)
        self.assertEqual(set(groups), {"device_groups"})
        self.assertIn(name, groups["device_groups"])

        self.assertReply(self.nebula.delete_device_group(name), 200, {})
        self.assertReply(self.nebula.delete_device_group(name), 403, {"device_group_exists": False})
        self.assertNotIn(name, self.assertStatus(self.nebula.list_device_groups(), 200)["device_groups"])

    def test_create_validation(self):
        name = unique("dg")
        self.addCleanup(self.nebula.delete_device_group, name)
        self.assertReply(self.nebula.create_device_group(name, {"apps": [unique("ghost")]}),
                         403, {"app_exists": False})
        self.assertReply(self.nebula.create_device_group(name, {"apps": "x"}),
                         400, {"apps_is_list": False})
        self.assertReply(self.nebula.create_device_group(name, {"cron_jobs": [unique("ghost")]}),
                         403, {"cron_job_exists": False})
        self.assertReply(self.nebula.create_device_group(name, {"cron_jobs": "x"}),
                         400, {"cron_jobs_is_list": False})
        # None of the rejected creates stored anything.
        self.assertReply(self.nebula.list_device_group(name), 403, {"device_group_exists": False})

    def test_create_defaults(self):
        name = unique("dg")
        self.addCleanup(self.nebula.delete_device_group, name)
        created = self.assertStatus(self.nebula.create_device_group(name, {}), 200)
        self.assertNoId(created)
        self.assertFields(created, {"device_group": name, "apps": [], "cron_jobs": [],
                                    "device_group_id": 1, "prune_id": 1})

    def test_update_validation(self):
        name = self.make_device_group()
        self.assertReply(self.nebula.update_device_group(name, {"apps": [unique("ghost")]}),
                         403, {"app_exists": False})
        self.assertReply(self.nebula.update_device_group(name, {"apps": "x"}),
                         400, {"apps_is_list": False})
        self.assertFields(self.assertStatus(self.nebula.list_device_group(name), 200),
                          {"device_group_id": 1})

    def test_missing_device_group_is_403(self):
        name = unique("ghost")
        missing = {"device_group_exists": False}
        self.assertReply(self.nebula.list_device_group(name), 403, missing)
        self.assertReply(self.nebula.list_device_group_info(name), 403, missing)
        self.assertReply(self.nebula.update_device_group(name, {"apps": []}), 403, missing)
        # Deliberate deviation: the original answered {"app_exists": false} here.
        self.assertReply(self.nebula.prune__device_group_images(name), 403, missing)
        self.assertReply(self.nebula.delete_device_group(name), 403, missing)

    def test_deleting_an_app_removes_it_from_groups(self):
        # Deliberate fix: the original left dangling names and did not bump
        # device_group_id, so workers never noticed the removal.
        doomed, kept = self.make_app(), self.make_app()
        group = self.make_device_group(config={"apps": [doomed, kept]})
        self.assertReply(self.nebula.delete_app(doomed), 200, {})
        doc = self.assertStatus(self.nebula.list_device_group(group), 200)
        self.assertFields(doc, {"apps": [kept], "device_group_id": 2})

    def test_deleting_a_cron_job_removes_it_from_groups(self):
        doomed, kept = self.make_cron_job(), self.make_cron_job()
        group = self.make_device_group(config={"cron_jobs": [doomed, kept]})
        self.assertReply(self.nebula.delete_cron_job(doomed), 200, {})
        doc = self.assertStatus(self.nebula.list_device_group(group), 200)
        self.assertFields(doc, {"cron_jobs": [kept], "device_group_id": 2})

    def test_prune_all(self):
        first = self.make_device_group()
        second = self.make_device_group()
        self.assertStatus(self.nebula.prune__device_group_images(second), 202)  # prune_id 2
        before = {dg: self.assertStatus(self.nebula.list_device_group(dg), 200)["prune_id"]
                  for dg in self.assertStatus(self.nebula.list_device_groups(), 200)["device_groups"]}
        self.assertEqual(before[first], 1)
        self.assertEqual(before[second], 2)

        reply = self.assertStatus(self.nebula.prune_images(), 202)
        self.assertEqual(set(reply), {"prune_ids"})
        self.assertIsInstance(reply["prune_ids"], dict)
        # Every group, and each one's new prune_id.
        self.assertEqual(reply["prune_ids"], {dg: prune_id + 1 for dg, prune_id in before.items()})
        self.assertFields(self.assertStatus(self.nebula.list_device_group(first), 200),
                          {"prune_id": 2, "device_group_id": 1})
        self.assertFields(self.assertStatus(self.nebula.list_device_group(second), 200),
                          {"prune_id": 3, "device_group_id": 1})


class TestCronJobs(NebulaCase):

    def test_cron_job_flow(self):
        name = unique("cron")
        self.addCleanup(self.nebula.delete_cron_job, name)
        config = {"schedule": "0 * * * *", "docker_image": "busybox"}

        created = self.assertStatus(self.nebula.create_cron_job(name, config), 200)
        self.assertNoId(created)
        self.assertFields(created, dict(CRON_DEFAULTS, cron_job_name=name, cron_job_id=1, **config))
        self.assertReply(self.nebula.create_cron_job(name, config), 403, {"cron_job_exists": True})

        # PUT: partial $set.
        put = self.assertStatus(self.nebula.update_cron_job(name, {"env_vars": {"K": "v"}}), 202)
        self.assertOid(put)
        self.assertFields(put, dict(config, cron_job_name=name, cron_job_id=2, env_vars={"K": "v"}))

        # POST (force_all) needs both required fields, and a rejected update changes nothing.
        missing = self.assertStatus(self.nebula.update_cron_job(name, {"schedule": "5 * * * *"},
                                                                force_all=True), 400)
        self.assertIn("missing_parameters", missing)
        post = self.assertStatus(self.nebula.update_cron_job(
            name, {"schedule": "5 * * * *", "docker_image": "busybox:1"}, force_all=True), 202)
        self.assertOid(post)
        self.assertFields(post, dict(CRON_DEFAULTS, cron_job_name=name, cron_job_id=3,
                                     schedule="5 * * * *", docker_image="busybox:1"))

        jobs = self.assertStatus(self.nebula.list_cron_jobs(), 200)
        self.assertEqual(set(jobs), {"cron_jobs"})
        self.assertIn(name, jobs["cron_jobs"])

        info = self.assertStatus(self.nebula.list_cron_job_info(name), 200)
        self.assertNoId(info)
        self.assertFields(info, {"cron_job_name": name, "cron_job_id": 3, "schedule": "5 * * * *",
                                 "docker_image": "busybox:1"})

        self.assertReply(self.nebula.delete_cron_job(name), 200, {})
        self.assertReply(self.nebula.delete_cron_job(name), 403, {"cron_job_exists": False})
        self.assertNotIn(name, self.assertStatus(self.nebula.list_cron_jobs(), 200)["cron_jobs"])

    def test_create_validation(self):
        name = unique("cron")
        self.addCleanup(self.nebula.delete_cron_job, name)
        self.assertReply(self.nebula.create_cron_job(name, {"docker_image": "busybox"}),
                         400, {"missing_parameters": ["schedule"]})
        reply = self.assertStatus(self.nebula.create_cron_job(name, {}), 400)
        self.assertIsInstance(reply.get("missing_parameters"), list)
        self.assertEqual(sorted(reply["missing_parameters"]), ["docker_image", "schedule"])
        self.assertReply(self.nebula.create_cron_job(name, {"schedule": "not a cron",
                                                            "docker_image": "busybox"}),
                         400, {"schedule_valid": False})
        self.assertReply(self.nebula.list_cron_job_info(name), 403, {"cron_job_exists": False})

    def test_update_rejects_bad_schedule(self):
        name = self.make_cron_job()
        self.assertReply(self.nebula.update_cron_job(name, {"schedule": "not a cron"}),
                         400, {"schedule_valid": False})
        self.assertReply(self.nebula.update_cron_job(name, {"schedule": "not a cron",
                                                            "docker_image": "busybox"}, force_all=True),
                         400, {"schedule_valid": False})
        self.assertFields(self.assertStatus(self.nebula.list_cron_job_info(name), 200),
                          {"cron_job_id": 1, "schedule": "0 * * * *"})

    def test_missing_cron_job_is_403(self):
        name = unique("ghost")
        missing = {"cron_job_exists": False}
        self.assertReply(self.nebula.list_cron_job_info(name), 403, missing)
        self.assertReply(self.nebula.update_cron_job(name, {"schedule": "0 * * * *"}), 403, missing)
        self.assertReply(self.nebula.update_cron_job(name, {"schedule": "0 * * * *", "docker_image": "b"},
                                                     force_all=True), 403, missing)
        self.assertReply(self.nebula.delete_cron_job(name), 403, missing)


class TestUsers(NebulaCase):

    def test_user_flow(self):
        name = unique("user")
        self.addCleanup(self.nebula.delete_user, name)
        # Secrets unique per run: bearer auth matches a token against *every* user.
        password, token = "p-" + _RUN, "t-" + _RUN

        created = self.assertStatus(self.nebula.create_user(name, {"password": password, "token": token}), 200)
        self.assertNoId(created)
        self.assertEqual(created["user_name"], name)
        # The password never comes back in clear. (The original returned bcrypt hashes;
        # our manager hides them and echoes the token once, on create and on refresh.)
        self.assertIn("password", created)
        self.assertNotEqual(created["password"], password)
        self.assertIn("token", created)
        self.assertReply(self.nebula.create_user(name, {"password": password}), 403, {"user_exists": True})

        users = self.assertStatus(self.nebula.list_users(), 200)
        self.assertEqual(set(users), {"users"})
        self.assertIn(name, users["users"])

        user = self.assertStatus(self.nebula.list_user(name), 200)
        self.assertNoId(user)
        self.assertEqual(user["user_name"], name)
        self.assertNotEqual(user["password"], password)
        self.assertNotEqual(user["token"], token)

        # The DB user can authenticate with basic auth and with its bearer token.
        self.assertReply(client(name, password).check_api(), 200, {"api_available": True})
        self.assertReply(client(token=token).check_api(), 200, {"api_available": True})

        updated = self.assertStatus(self.nebula.update_user(name, {"password": password + "2"}), 200)
        self.assertEqual(updated["user_name"], name)
        self.assertNotEqual(updated["password"], password + "2")
        self.assertReply(client(name, password + "2").check_api(), 200, {"api_available": True})
        self.assertUnauthorizedJson(client(name, password).check_api)

        refreshed = self.assertStatus(self.nebula.refresh_user_token(name), 200)
        self.assertEqual(set(refreshed), {"token"})
        new_token = refreshed["token"]
        self.assertIsInstance(new_token, str)
        self.assertNotEqual(new_token, token)
        self.assertReply(client(token=new_token).check_api(), 200, {"api_available": True})
        self.assertUnauthorizedJson(client(token=token).check_api)

        self.assertReply(self.nebula.delete_user(name), 200, {})
        self.assertReply(self.nebula.delete_user(name), 403, {"user_exists": False})
        self.assertNotIn(name, self.assertStatus(self.nebula.list_users(), 200)["users"])
        # A deleted user's credentials stop working at once.
        self.assertUnauthorizedJson(client(token=new_token).check_api)

    def test_missing_user_is_403(self):
        name = unique("ghost")
        self.assertReply(self.nebula.list_user(name), 403, {"user_exists": False})
        self.assertReply(self.nebula.update_user(name, {"password": "x"}), 403, {"user_name": False})
        self.assertReply(self.nebula.refresh_user_token(name), 403, {"user_name": False})
        self.assertReply(self.nebula.delete_user(name), 403, {"user_exists": False})


class TestUserGroups(NebulaCase):

    def test_user_group_flow(self):
        member = self.make_user()
        name = unique("ug")
        self.addCleanup(self.nebula.delete_user_group, name)

        config = {"group_members": [member], "apps": {"someapp": "ro"}}
        created = self.assertStatus(self.nebula.create_user_group(name, config), 200)
        self.assertNoId(created)
        expected = {"user_group": name, "group_members": [member], "apps": {"someapp": "ro"},
                    "pruning_allowed": False, "admin": False, "device_groups": {}, "cron_jobs": {}}
        self.assertFields(created, expected)
        self.assertReply(self.nebula.create_user_group(name, config), 403, {"user_group_exists": True})

        groups = self.assertStatus(self.nebula.list_user_groups(), 200)
        self.assertEqual(set(groups), {"user_groups"})
        self.assertIn(name, groups["user_groups"])

        group = self.assertStatus(self.nebula.list_user_group(name), 200)
        self.assertNoId(group)
        self.assertFields(group, expected)

        updated = self.assertStatus(self.nebula.update_user_group(name, {"pruning_allowed": True}), 200)
        self.assertFields(updated, dict(expected, pruning_allowed=True))

        self.assertReply(self.nebula.delete_user_group(name), 200, {})
        self.assertReply(self.nebula.delete_user_group(name), 403, {"user_group_exists": False})
        self.assertNotIn(name, self.assertStatus(self.nebula.list_user_groups(), 200)["user_groups"])

    def test_missing_user_group_is_403(self):
        name = unique("ghost")
        self.assertReply(self.nebula.list_user_group(name), 403, {"user_group_exists": False})
        self.assertReply(self.nebula.delete_user_group(name), 403, {"user_group_exists": False})


class TestRbac(NebulaCase):
    """DB users get only what their user groups grant; 403 {"access_allowed": false}
    when authenticated but not authorized."""

    DENIED = {"access_allowed": False}

    def db_user_client(self, grants):
        user = self.make_user(config={"password": "secret"})
        self.make_user_group(config=dict(grants, group_members=[user]))
        return client(user, "secret")

    def test_app_rw_implies_ro(self):
        granted, other = self.make_app(), self.make_app()
        nebula = self.db_user_client({"apps": {granted: "rw"}})

        # Deliberate fix: the original needed exactly "ro" for GET, so "rw" could not read.
        info = self.assertStatus(nebula.list_app_info(granted), 200)
        self.assertEqual(info["app_name"], granted)
        self.assertFields(self.assertStatus(nebula.stop_app(granted), 202), {"app_id": 2})

        self.assertReply(nebula.list_app_info(other), 403, self.DENIED)
        self.assertReply(nebula.stop_app(other), 403, self.DENIED)
        self.assertReply(nebula.delete_app(other), 403, self.DENIED)
        # List endpoints need authentication only.
        self.assertIn(other, self.assertStatus(nebula.list_apps(), 200)["apps"])
        # Admin-only endpoints.
        self.assertReply(nebula.create_user(unique("user"), {"password": "x"}), 403, self.DENIED)
        self.assertReply(nebula.prune_images(), 403, self.DENIED)

    def test_app_ro_is_read_only(self):
        app = self.make_app()
        nebula = self.db_user_client({"apps": {app: "ro"}})
        self.assertStatus(nebula.list_app_info(app), 200)
        self.assertReply(nebula.stop_app(app), 403, self.DENIED)
        self.assertReply(nebula.update_app(app, {"docker_image": "x"}), 403, self.DENIED)

    def test_device_group_ro_reads_info(self):
        app = self.make_app()
        group, other = self.make_device_group(config={"apps": [app]}), self.make_device_group()
        nebula = self.db_user_client({"device_groups": {group: "ro"}})

        info = self.assertStatus(nebula.list_device_group_info(group), 200)
        self.assertEqual(info["apps_list"], [app])
        self.assertStatus(nebula.list_device_group(group), 200)
        self.assertReply(nebula.update_device_group(group, {"apps": []}), 403, self.DENIED)
        self.assertReply(nebula.list_device_group_info(other), 403, self.DENIED)

    def test_admin_group_allows_everything(self):
        nebula = self.db_user_client({"admin": True})
        name = unique("app")
        self.addCleanup(self.nebula.delete_app, name)
        self.assertStatus(nebula.create_app(name, {"docker_image": "nginx"}), 200)
        self.assertStatus(nebula.list_users(), 200)
        self.assertStatus(nebula.prune_images(), 202)


class TestReports(NebulaCase):

    def test_empty_reports(self):
        # Fresh store: nothing reported yet (no worker runs in this suite).
        self.assertReply(self.nebula.list_reports(), 200, {"data": None, "last_id": None})

    def test_filter_matching_nothing(self):
        self.assertReply(self.nebula.list_reports(hostname=unique("host"), updated=True),
                         200, {"data": None, "last_id": None})


if __name__ == "__main__":
    unittest.main(verbosity=2)
