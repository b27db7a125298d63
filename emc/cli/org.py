"""`emc users …` and `emc regions …`: accounts, API tokens and administrative regions (thin over emc.org)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from emc.cli_kit import fail, migrated_engine
from emc.db import session_scope

users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
regions_app = typer.Typer(help="Administrative regions.", no_args_is_help=True)


@regions_app.command("load")
def regions_load(file: Annotated[Path | None, typer.Argument(
        help="TOML of [[regions]]; default: shipped Jiangsu list")] = None) -> None:
    """Load administrative regions (idempotent)."""
    from emc.org.service import SHIPPED_REGIONS, OrgError, load_regions

    engine = migrated_engine()
    try:
        with session_scope(engine) as session:
            added = load_regions(session, file or SHIPPED_REGIONS)
    except (OrgError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"regions: {added} added")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin | manager | esco | finance | viewer")],
    region: Annotated[str | None, typer.Option(help="region code (managers; optional for finance/viewer)")] = None,
    esco: Annotated[str | None, typer.Option(help="ESCO code (ESCO users)")] = None,
    display_name: Annotated[str, typer.Option()] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Add a user. The password is prompted for (or read from stdin)."""
    from pydantic import ValidationError

    from emc.org.service import OrgError, UserCreate, create_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        typer.prompt("password", hide_input=True, confirmation_prompt=True)
    engine = migrated_engine()
    try:
        data = UserCreate(username=username, password=password, role=role, region=region, esco=esco,
                          display_name=display_name)
        with session_scope(engine) as session:
            create_user(session, data, actor="cli")
    except ValidationError as exc:
        fail("\n".join(f"{'.'.join(map(str, e['loc'])) or 'user'}: {e['msg'].removeprefix('Value error, ')}"
                        for e in exc.errors()))
    except OrgError as exc:
        fail(str(exc))
    typer.echo(f"user {username} added ({role})")


@users_app.command("list")
def users_list() -> None:
    from emc.org.models import User

    with session_scope(migrated_engine()) as session:
        for user in session.exec(select(User).order_by(User.username)):
            typer.echo(f"{user.username:20} {user.role:8} {'active' if user.is_active else 'inactive'}")


@users_app.command("token")
def users_token(username: str, name: Annotated[str, typer.Option(help="what the token is for")] = "api",
                days: Annotated[int, typer.Option(help="days until it expires (1..366)")] = 90) -> None:
    """Issue an API bearer token for USERNAME (shown once). It expires after --days, and dies earlier when
    revoked (`emc users revoke-token`, or the account page) or when the user's password changes."""
    from emc.org.models import User
    from emc.org.service import OrgError, issue_token

    try:
        with session_scope(migrated_engine()) as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                fail(f"no user {username!r}")
            issued = issue_token(session, user, name, actor="cli", days=days)
    except OrgError as exc:
        fail(str(exc))
    typer.echo(issued.token)


@users_app.command("tokens")
def users_tokens(username: str) -> None:
    """List USERNAME's API tokens (id, name, expiry, last use, revoked)."""
    from emc.org.models import User
    from emc.org.service import tokens_of

    with session_scope(migrated_engine()) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            fail(f"no user {username!r}")
        for t in tokens_of(session, user):
            state = "revoked" if t.revoked else f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "expired"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
            typer.echo(f"{t.id:6} {t.name:30} {state:20} {used}")


@users_app.command("revoke-token")
def users_revoke_token(username: str, token_id: int) -> None:
    """Revoke one of USERNAME's API tokens by its id (see `emc users tokens`)."""
    from emc.org.models import ApiToken, User
    from emc.org.service import revoke_token

    with session_scope(migrated_engine()) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        record = session.get(ApiToken, token_id)
        if user is None or record is None or record.user_id != user.id:
            fail(f"{username!r} has no token {token_id}")
        revoke_token(session, record, actor="cli")
    typer.echo(f"token {token_id} of {username} revoked")


@users_app.command("reset-password")
def users_reset_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Set a new password for USERNAME (prompted, or from stdin); their sessions and API tokens end."""
    from emc.org.models import User
    from emc.org.service import OrgError, reset_password

    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(migrated_engine()) as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                fail(f"no user {username!r}")
            reset_password(session, user, password, actor="cli")
    except OrgError as exc:
        fail(str(exc))
    typer.echo(f"password of {username} reset; their sessions and tokens ended")
