import { JobEvent, JobView, parseInput, resourceName } from '@dln/contracts';
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { JobControl } from './job-control.service';
import { JobLedger } from './job-ledger';
import { MAX_EVENTS_PER_PAGE, MAX_JOBS_LISTED } from './job-store';
import { JobSubmission } from './job-submission.service';

const eventsQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_PER_PAGE).default(MAX_EVENTS_PER_PAGE),
});

/** REST: submit, list, inspect and cancel jobs. */
@Controller('v1/jobs')
export class JobsController {
  constructor(
    private readonly submission: JobSubmission,
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
  ) {}

  @Post()
  submit(@Body() body: unknown): Promise<JobView> {
    return this.submission.submit(body);
  }

  /** Active jobs first, then finished ones; newest first within each. */
  @Get()
  async list(): Promise<{ jobs: JobView[] }> {
    const active = this.ledger.active().sort((a, b) => b.createdAt - a.createdAt);
    const final = await this.ledger.store.listFinal(Math.max(0, MAX_JOBS_LISTED - active.length));
    return { jobs: [...active, ...final].map((job) => job.view()) };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<JobView> {
    return (await this.ledger.find(parseInput(resourceName, id, 'job id'))).view();
  }

  /** The job's events in order; `after` pages on from a seq. */
  @Get(':id/events')
  async events(@Param('id') id: string, @Query() query: unknown): Promise<{ events: JobEvent[] }> {
    const job = await this.ledger.find(parseInput(resourceName, id, 'job id'));
    const { after, limit } = parseInput(eventsQuerySchema, query, 'query');
    return { events: await this.ledger.store.events(job.id, after, limit) };
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@Param('id') id: string): Promise<JobView> {
    return this.control.cancel(parseInput(resourceName, id, 'job id'));
  }
}
