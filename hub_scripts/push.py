"""umt-push: upload a folder written by `umt-export` to a model repository on the Hugging Face Hub.

Creates the repository if needed (optionally private), the branch given by `--revision` if needed, and uploads every
file of the folder in one commit. `--dry-run` lists what would be uploaded and touches no network. Without a token, in
offline mode or without network it stops with a message saying what to do; the local folder is never changed.

    umt-push hub/umt-twitter2017 --repo_id my-org/umt-twitter2017 --private --commit_message "UMT on Twitter-2017"
"""

import argparse
import sys
from pathlib import Path

from huggingface_hub import HfApi, constants, get_token, is_offline_mode

#: Files without which a folder is not a model repository `umt-export` wrote.
REQUIRED_FILES = ("config.json", "README.md")


def folder_listing(folder: Path) -> list[tuple[str, int]]:
    """Every file under `folder` (relative path, size in bytes), sorted, `.git` excluded."""
    return [
        (path.relative_to(folder).as_posix(), path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    ]


def format_listing(listing: list[tuple[str, int]]) -> str:
    """One line per file: size (B, KiB or MiB) and path."""

    def readable(size: int) -> str:
        for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
            if size >= scale:
                return f"{size / scale:.1f} {unit}"
        return f"{size} B"

    return "\n".join(f"  {readable(size):>10}  {name}" for name, size in listing)


def check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: give the --output_dir of umt-export")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} has no {', '.join(missing)}: export it with umt-export first")


def push(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload UMT model",
    token: str | None = None,
    dry_run: bool = False,
) -> str | None:
    """Upload `folder` to `repo_id` (at branch `revision`, default main); returns the commit URL (None on a dry run)."""
    folder = Path(folder)
    check_folder(folder)
    listing = folder_listing(folder)
    target = f"{repo_id}@{revision or 'main'} ({'private' if private else 'public'}) on {constants.ENDPOINT}"
    if dry_run:
        print(f"dry run: would upload {len(listing)} files to {target}:\n{format_listing(listing)}")
        return None
    if is_offline_mode():
        raise ConnectionError(
            "offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set): unset it to upload, "
            f"or use --dry-run to list the files; {folder} is unchanged"
        )
    token = token or get_token()
    if token is None:
        raise PermissionError(
            "no Hugging Face token: run `hf auth login`, set HF_TOKEN, or pass --token (a token with write access); "
            f"{folder} is unchanged"
        )
    api = HfApi(token=token)
    try:
        print(f"creating {repo_id} if needed", file=sys.stderr)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        print(f"uploading {len(listing)} files to {target}", file=sys.stderr)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=folder, revision=revision, commit_message=commit_message
        )
    except Exception as error:  # httpx transport errors, HfHubHTTPError (401, 403, 404...), timeouts
        raise ConnectionError(
            f"could not upload to {target}: {type(error).__name__}: {error}. Check the network, the token's write "
            f"access to {repo_id.split('/')[0]} and the repository id, then run again; {folder} is unchanged"
        ) from error
    print(f"uploaded: {commit.commit_url}")
    return commit.commit_url


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="umt-push", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder written by umt-export")
    parser.add_argument("--repo_id", required=True, help="Hub repository, org/name (created if it does not exist)")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", help="branch to upload to (created if needed); default main")
    parser.add_argument("--commit_message", default="Upload UMT model", help="message of the upload commit")
    parser.add_argument("--token", help="Hugging Face token with write access; default: HF_TOKEN or the saved login")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true", help="list the files, upload nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        push(**vars(args))
    except (FileNotFoundError, PermissionError, ConnectionError) as error:
        raise SystemExit(f"umt-push: {error}") from error


if __name__ == "__main__":
    main()
