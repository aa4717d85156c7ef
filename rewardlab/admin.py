"""Django admin for runs and reward models: read-only rows with progress, and the same actions as the Runs pages
(cancel, promote) through the same services. Runs are started from /runs/, the API or the CLI."""

from django.contrib import admin, messages
from django.utils.html import format_html

from config.errors import ServiceError
from rewardlab import models
from rewardlab.services.reward_models import reward_model_promote
from rewardlab.services.runs import run_cancel


@admin.action(description="Cancel the selected runs")
def cancel_runs(modeladmin, request, queryset):
    for run in queryset:
        try:
            run_cancel(run=run)
        except ServiceError as exc:
            modeladmin.message_user(request, f"Run {run.pk}: {exc.message}", messages.WARNING)


class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "name", "project", "status", "progress_bar", "attempts", "device", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["name"]
    actions = [cancel_runs]
    exclude = ["log"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "log"] + ["page", "log_tail"]

    def has_add_permission(self, request) -> bool:
        return False  # runs start through the services (Runs page, API, CLI), which validate and queue them

    @admin.display(description="progress")
    def progress_bar(self, run: models.Run):
        return format_html('<progress max="100" value="{}"></progress> {}%', round(100 * run.progress), round(100 * run.progress))

    @admin.display(description="live page")
    def page(self, run: models.Run):
        return format_html('<a href="/runs/{}/">/runs/{}/</a> (live progress and curves)', run.pk, run.pk)

    @admin.display(description="log (end)")
    def log_tail(self, run: models.Run):
        return format_html("<pre>{}</pre>", run.log[-5000:])


for model in (models.Run, models.RewardRun, models.RewardEval, models.ScoreRun, models.AlignmentRun, models.Generation):
    admin.site.register(model, RunAdmin)


@admin.register(models.RewardModel)
class RewardModelAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "dimensions", "is_active", "promoted_at", "created_at"]
    list_filter = ["is_active"]
    readonly_fields = ["is_active", "promoted_at", "promoted_by", "source_run"]
    actions = ["promote"]

    @admin.action(description="Promote to its project's reward model")
    def promote(self, request, queryset):
        for model in queryset:
            reward_model_promote(reward_model=model, promoted_by=request.user)
            self.message_user(request, f"{model.name} is now the reward model of {model.project}; its videos are being scored.")


@admin.register(models.VideoScore)
class VideoScoreAdmin(admin.ModelAdmin):
    list_display = ["id", "reward_model", "video", "scores", "created_at"]
    raw_id_fields = ["video"]
