CREATE TABLE "baton"."messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"at" bigint NOT NULL,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "messages_topic_at_idx" ON "baton"."messages" USING btree ("topic","at","id");--> statement-breakpoint
CREATE INDEX "messages_at_idx" ON "baton"."messages" USING btree ("at");