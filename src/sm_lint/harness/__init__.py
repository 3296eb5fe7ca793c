"""The runtime layer (`sm-lint run`): the job request (jobspec) now; the container harness later.

Nothing is imported here, so `import sm_lint.harness.jobspec` stays cheap.
"""
