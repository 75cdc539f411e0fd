CREATE SCHEMA "baton";
--> statement-breakpoint
CREATE TABLE "baton"."sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"credential_hash" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_active_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"protocol_version" text NOT NULL,
	"client_capabilities" jsonb NOT NULL,
	"client_info" jsonb NOT NULL,
	"state" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "sessions_expires_at_idx" ON "baton"."sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "sessions_last_active_at_idx" ON "baton"."sessions" USING btree ("last_active_at");