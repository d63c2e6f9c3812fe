"""The Areion 1.1.11 README's examples, with areion_core imports, behave as that README says."""

from __future__ import annotations

import subprocess
import sys

import httpx

from areion_core import (
    AreionServer,
    AreionServerBuilder,
    DefaultLogger,
    DefaultRouter,
    HttpRequest,
    HttpResponse,
    NotFoundError,
    create_error_response,
    create_html_response,
    create_json_response,
    create_redirect_response,
    create_text_response,
)
from areion_core.testing import LiveServer, TestClient


def _build(router, **kw) -> AreionServer:
    b = AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
    for name, value in kw.items():
        getattr(b, f"with_{name}")(value)
    return b.build()


def test_star_import_works():
    out = subprocess.run([sys.executable, "-c", "from areion_core import *; print(AreionServerBuilder, HttpResponse)"],
                         capture_output=True, text=True, check=True)
    assert "AreionServerBuilder" in out.stdout


def test_quick_start():
    router = DefaultRouter()

    @router.route("/hello")
    def hello_world(request: HttpRequest):
        return "Hello, World!"

    server = AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[]).build()
    with LiveServer(server) as live:
        response = httpx.get(live.url + "/hello")
    assert response.status_code == 200 and response.text == "Hello, World!"


def test_sub_router_example(tmp_path):
    users_router = DefaultRouter(prefix="/users")

    @users_router.route("/", methods=["GET"])
    def get_all_users(request):
        return HttpResponse(status_code=200, body={"users": []}, content_type="application/json")

    @users_router.route("/:user_id", methods=["GET"])
    def get_user(request, user_id):
        body = request.get_parsed_body()
        if not body.get("token"):
            return HttpResponse(status_code=401, body="Unauthorized", content_type="text/plain")
        return HttpResponse(status_code=200, body={"user_id": user_id}, content_type="application/json")

    main_router = DefaultRouter()
    main_router.include_router(users_router)
    logger = DefaultLogger(log_file=str(tmp_path / "server.log"))
    server = _build(main_router, logger=logger)
    with TestClient(server) as c:
        assert c.get("/users").json() == {"users": []}
        redirect = c.get("/users/")  # the trailing-slash policy: one canonical URL, 308 to it
        assert redirect.status_code == 308 and redirect.headers["location"] == "/users"
        denied = c.get("/users/7")
        assert denied.status_code == 401 and denied.text == "Unauthorized"
        allowed = c.request("GET", "/users/7", json={"token": "t"})
        assert allowed.json() == {"user_id": "7"}


def test_group_with_middleware_and_django_style_routes(capsys):
    router = DefaultRouter()

    def group_middleware(handler):
        def wrapper(request, *args, **kwargs):
            print("Group middleware executed")
            return handler(request, *args, **kwargs)
        return wrapper

    def log_request(handler):
        def wrapper(request, *args, **kwargs):
            print(f"Received request: {request.path}")
            return handler(request, *args, **kwargs)
        return wrapper

    api_group = router.group("/api", middlewares=[group_middleware])

    @api_group.route("/users")
    def api_users(request):
        return "API Users"

    def get_user(request, id):
        return f"User ID: {id}"

    router.add_route("/user/:id", get_user, methods=["GET"], middlewares=[log_request])
    router.add_global_middleware(log_request)
    with TestClient(_build(router)) as c:
        assert c.get("/api/users").text == "API Users"
        assert c.get("/user/5").text == "User ID: 5"
    printed = capsys.readouterr().out
    assert "Group middleware executed" in printed
    assert printed.count("Received request: /user/5") == 2  # global and route middleware


def test_exceptions_and_helpers():
    router = DefaultRouter()
    database = {"1": {"name": "kettle"}}

    def get_item(request, item_id):
        item = database.get(item_id)
        if not item:
            raise NotFoundError("Item not found")
        return item

    router.add_route("/items/:item_id", get_item)
    router.add_route("/json", lambda request: create_json_response({"a": 1}))
    router.add_route("/text", lambda request: create_text_response("t", 201))
    router.add_route("/html", lambda request: create_html_response("<p>h</p>"))
    router.add_route("/go", lambda request: create_redirect_response("/json"))
    router.add_route("/err", lambda request: create_error_response(409, "conflict"))

    @router.route("/user", methods=["GET"])
    def get_user(request):
        user = {"name": "John Doe", "age": 30}
        return HttpResponse(body=user, content_type="application/json")

    with TestClient(_build(router)) as c:
        assert c.get("/items/1").json() == {"name": "kettle"}
        missing = c.get("/items/2")
        # 1.x clients read body["error"]; the body is now an RFC 9457 problem around it.
        assert missing.status_code == 404 and missing.json()["error"] == "Item not found"
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                                  "detail": "Item not found", "error": "Item not found"}
        assert c.get("/json").json() == {"a": 1}
        assert c.get("/text").status_code == 201
        assert c.get("/html").headers["content-type"] == "text/html; charset=utf-8"
        assert c.get("/go").headers["location"] == "/json"
        err = c.get("/err")
        assert err.status_code == 409 and err.json()["error"] == "conflict"
        assert err.json()["detail"] == "conflict" and err.json()["title"] == "Conflict"
        assert c.get("/user").json() == {"name": "John Doe", "age": 30}
