"""Every pipeline kind, registered on import. `jobs.apps.JobsConfig.ready` imports this
package, so the web process (validation at creation) and every worker know the same kinds:
add a pipeline by importing its module here."""

from jobs.pipelines import build_tree, generate_proposals, selftest

__all__ = ["build_tree", "generate_proposals", "selftest"]
