CREATE TABLE "baton"."tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"credential_hash" text NOT NULL,
	"session_id" text,
	"tool" text NOT NULL,
	"arguments" jsonb NOT NULL,
	"status" text NOT NULL,
	"status_message" text,
	"result" jsonb,
	"error" jsonb,
	"input_requests" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"input_responses" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"ttl_ms" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"rerunnable" boolean DEFAULT false NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "tasks_status_check" CHECK ("baton"."tasks"."status" in ('working', 'input_required', 'completed', 'failed', 'cancelled'))
);
--> statement-breakpoint
CREATE INDEX "tasks_credential_hash_created_at_idx" ON "baton"."tasks" USING btree ("credential_hash","created_at");--> statement-breakpoint
CREATE INDEX "tasks_expires_at_idx" ON "baton"."tasks" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "tasks_lease_expires_at_idx" ON "baton"."tasks" USING btree ("lease_expires_at") WHERE "baton"."tasks"."status" = 'working';--> statement-breakpoint
CREATE INDEX "tasks_lease_owner_idx" ON "baton"."tasks" USING btree ("lease_owner") WHERE "baton"."tasks"."lease_owner" is not null;