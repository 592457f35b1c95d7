"""The JavaScript / TypeScript language package of the code scanner (tree-sitter, no Node needed).

The shared core (``template.py`` SQL templates, ``sql.py`` pglast analysis, ``assemble.py``
statements and findings, ``scanner.py`` walking/caching) is language-neutral; this package is the
JS/TS counterpart of ``python.py``:

- ``grammar.py`` — extensions, tree-sitter parsers, skip rules (declaration, minified files);
- ``extract.py`` — module records: SQL call sites of node-postgres, knex, sequelize, Prisma,
  TypeORM, postgres.js / slonik ``sql`` tagged templates; constants, imports, cast-only helpers,
  casts of bound values, loops over query rows;
- ``post.py``    — per-file processing for the scanner and the cross-module post-pass;
- ``rewrite.py`` — code fixes as byte-range edits on the tree-sitter tree, with a syntax check.
"""

from heal_pipeline.codescan.javascript.extract import JsNames
from heal_pipeline.codescan.javascript.grammar import BUILD_DIRS, EXTENSIONS, is_source, language_of
from heal_pipeline.codescan.javascript.post import JsPostPass, process_files, process_source
from heal_pipeline.codescan.javascript.rewrite import JsFixError

#: part of the cache key of JS/TS module records: bump when the records change
VERSION = "js-1"

__all__ = ["VERSION", "JsFixError", "JsNames", "JsPostPass", "process_files", "process_source", "is_source", "language_of", "EXTENSIONS",
           "BUILD_DIRS", "plan_js_cast_fix", "check_js_syntax"]


def plan_js_cast_fix(file_path, finding, *, source_dirs=None, rel=None):  # noqa: D401 - thin lazy wrapper
    """See :func:`heal_pipeline.codescan.javascript.rewrite.plan_js_cast_fix`."""
    from heal_pipeline.codescan.javascript.rewrite import plan_js_cast_fix as impl
    return impl(file_path, finding, source_dirs=source_dirs, rel=rel)


def check_js_syntax(path_or_text, name: str | None = None):
    """See :func:`heal_pipeline.codescan.javascript.rewrite.check_js_syntax`."""
    from heal_pipeline.codescan.javascript.rewrite import check_js_syntax as impl
    return impl(path_or_text, name)
