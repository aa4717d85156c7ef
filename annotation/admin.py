from django.contrib import admin

from annotation import models


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "overlap", "lease_seconds", "gold_ratio", "created_at"]
    search_fields = ["name"]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role"]
    autocomplete_fields = ["project"]
    raw_id_fields = ["user"]


@admin.register(models.Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "text"]
    search_fields = ["text"]
    raw_id_fields = ["project"]


@admin.register(models.GenerationModel)
class GenerationModelAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "name"]
    raw_id_fields = ["project"]


@admin.register(models.Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "generation_model", "status", "width", "height", "fps", "duration_s"]
    list_filter = ["status", "source"]
    search_fields = ["sha256", "original_name"]
    raw_id_fields = ["project", "prompt", "generation_model"]


@admin.register(models.Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "video_a", "video_b", "is_gold", "target", "done_count", "leased_count"]
    list_filter = ["is_gold"]
    raw_id_fields = ["project", "prompt", "video_a", "video_b"]


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "annotator", "status", "shown_left", "expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["pair", "annotator"]


@admin.register(models.Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "annotator", "choices", "duration_ms", "is_gold", "imported", "created_at"]
    list_filter = ["is_gold", "imported"]
    raw_id_fields = ["pair", "assignment", "annotator"]


@admin.register(models.GoldAnswer)
class GoldAnswerAdmin(admin.ModelAdmin):
    list_display = ["pair", "choices", "created_at"]
    raw_id_fields = ["pair"]


@admin.register(models.ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "done_rows", "failed_rows", "total_rows", "created_at"]
    list_filter = ["status", "kind"]


@admin.register(models.DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "number", "status", "granularity", "sha256", "created_at"]
    list_filter = ["status"]

    # Versions are made by annotation.services.exports and never edited (the database refuses it too).
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["pair", "choices", "decided_by", "created_at"]
    raw_id_fields = ["pair"]
