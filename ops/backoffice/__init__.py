"""The back office: the Django admin as a restaurant manager's tool.

`BackOfficeSite` is the project's admin site (installed through `ops.apps.BackOfficeAdminConfig`): its home page is
today's business at a glance (assembled in `dashboard.py` from the modules' apis only), its menu carries a Reports
section that modules fill with `admin.site.register_report(...)`, and operator tools stay out of a manager's sight."""
